define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1) noinline nounwind {
entry:
  %a3 = alloca double, align 8
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i17, %after14]
  store double 0x0000000000000000, ptr %a3
  br label %loop4
loop4:
  %i5 = phi i64 [0, %loop1], [%i12, %loop4]
  %v6 = load double, ptr %a3
  %i7 = mul nsw i64 %i2, 4
  %i8 = add nsw i64 %i7, %i5
  %p9 = getelementptr inbounds double, ptr %ptr0, i64 %i8
  %v10 = load double, ptr %p9
  %v11 = fadd double %v6, %v10
  store double %v11, ptr %a3
  %i12 = add nuw nsw i64 %i5, 1
  %c13 = icmp ult i64 %i12, 4
  br i1 %c13, label %loop4, label %after14
after14:
  %v15 = load double, ptr %a3
  %p16 = getelementptr inbounds double, ptr %ptr1, i64 %i2
  store double %v15, ptr %p16
  %i17 = add nuw nsw i64 %i2, 1
  %c18 = icmp ult i64 %i17, 3
  br i1 %c18, label %loop1, label %after19, !llvm.loop !0
after19:
  ret void
}

define internal void @kernel1(ptr noalias %ptr0, ptr noalias %ptr1, double %val0) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i7, %loop1]
  %p3 = getelementptr inbounds double, ptr %ptr0, i64 %i2
  %v4 = load double, ptr %p3
  %v5 = fmul double %v4, %val0
  %p6 = getelementptr inbounds double, ptr %ptr1, i64 %i2
  store double %v5, ptr %p6
  %i7 = add nuw nsw i64 %i2, 1
  %c8 = icmp ult i64 %i7, 3
  br i1 %c8, label %loop1, label %after9
after9:
  ret void
}

define internal void @kernel2(ptr noalias %ptr0, ptr noalias %ptr1, ptr noalias %ptr2) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i16, %loop1]
  %i3 = mul nsw i64 %i2, 2
  %i4 = add nsw i64 %i3, 0
  %i5 = add nsw i64 %i2, 0
  %p6 = getelementptr inbounds double, ptr %ptr0, i64 %i5
  %v7 = load double, ptr %p6
  %i8 = add nsw i64 %i4, 0
  %p9 = getelementptr inbounds double, ptr %ptr1, i64 %i8
  store double %v7, ptr %p9
  %i10 = add nsw i64 %i3, 1
  %i11 = add nsw i64 %i2, 0
  %p12 = getelementptr inbounds double, ptr %ptr2, i64 %i11
  %v13 = load double, ptr %p12
  %i14 = add nsw i64 %i10, 0
  %p15 = getelementptr inbounds double, ptr %ptr1, i64 %i14
  store double %v13, ptr %p15
  %i16 = add nuw nsw i64 %i2, 1
  %c17 = icmp ult i64 %i16, 3
  br i1 %c17, label %loop1, label %after18
after18:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io0, ptr %ws)
  %p1 = getelementptr inbounds i8, ptr %ws, i64 64
  %v2 = load double, ptr %io1
  call void @kernel1(ptr %ws, ptr %p1, double %v2)
  call void @kernel2(ptr %ws, ptr %io2, ptr %p1)
  ret void
}
