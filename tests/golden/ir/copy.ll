define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i15, %after14]
  br label %loop3
loop3:
  %i4 = phi i64 [0, %loop1], [%i12, %loop3]
  %i5 = mul nsw i64 %i4, 4
  %i6 = add nsw i64 %i2, %i5
  %p7 = getelementptr inbounds double, ptr %ptr0, i64 %i6
  %v8 = load double, ptr %p7
  %i9 = mul nsw i64 %i2, 3
  %i10 = add nsw i64 %i9, %i4
  %p11 = getelementptr inbounds double, ptr %ptr1, i64 %i10
  store double %v8, ptr %p11
  %i12 = add nuw nsw i64 %i4, 1
  %c13 = icmp ult i64 %i12, 3
  br i1 %c13, label %loop3, label %after14
after14:
  %i15 = add nuw nsw i64 %i2, 1
  %c16 = icmp ult i64 %i15, 4
  br i1 %c16, label %loop1, label %after17, !llvm.loop !0
after17:
  ret void
}

define internal void @kernel1(ptr noalias %ptr0, ptr noalias %ptr1) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i6, %loop1]
  %p3 = getelementptr inbounds double, ptr %ptr0, i64 %i2
  %v4 = load double, ptr %p3
  %p5 = getelementptr inbounds double, ptr %ptr1, i64 %i2
  store double %v4, ptr %p5
  %i6 = add nuw nsw i64 %i2, 1
  %c7 = icmp ult i64 %i6, 12
  br i1 %c7, label %loop1, label %after8
after8:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io0, ptr %io1)
  call void @kernel1(ptr %io0, ptr %io2)
  ret void
}
