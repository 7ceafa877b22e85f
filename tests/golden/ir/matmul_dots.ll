define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1, ptr noalias %ptr2) noinline nounwind {
entry:
  %a5 = alloca double, align 8
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i29, %after28]
  br label %loop3
loop3:
  %i4 = phi i64 [0, %loop1], [%i26, %after21]
  store double 0x0000000000000000, ptr %a5
  br label %loop6
loop6:
  %i7 = phi i64 [0, %loop3], [%i19, %loop6]
  %i8 = mul nsw i64 %i7, 3
  %i9 = add nsw i64 %i2, %i8
  %p10 = getelementptr inbounds double, ptr %ptr0, i64 %i9
  %v11 = load double, ptr %p10
  %i12 = mul nsw i64 %i4, 5
  %i13 = add nsw i64 %i7, %i12
  %p14 = getelementptr inbounds double, ptr %ptr1, i64 %i13
  %v15 = load double, ptr %p14
  %v16 = fmul double %v11, %v15
  %v17 = load double, ptr %a5
  %v18 = fadd double %v17, %v16
  store double %v18, ptr %a5
  %i19 = add nuw nsw i64 %i7, 1
  %c20 = icmp ult i64 %i19, 5
  br i1 %c20, label %loop6, label %after21
after21:
  %v22 = load double, ptr %a5
  %i23 = mul nsw i64 %i2, 4
  %i24 = add nsw i64 %i23, %i4
  %p25 = getelementptr inbounds double, ptr %ptr2, i64 %i24
  store double %v22, ptr %p25
  %i26 = add nuw nsw i64 %i4, 1
  %c27 = icmp ult i64 %i26, 4
  br i1 %c27, label %loop3, label %after28, !llvm.loop !0
after28:
  %i29 = add nuw nsw i64 %i2, 1
  %c30 = icmp ult i64 %i29, 3
  br i1 %c30, label %loop1, label %after31, !llvm.loop !0
after31:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io1, ptr %io0, ptr %io2)
  ret void
}
