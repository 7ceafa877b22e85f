define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1, ptr noalias %ptr2, double %val0) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i12, %loop1]
  %p3 = getelementptr inbounds double, ptr %ptr0, i64 %i2
  %v4 = load double, ptr %p3
  %v5 = fcmp ogt double %v4, 0x3FE0000000000000
  %v6 = call double @llvm.sin.f64(double %v4)
  %v7 = fmul double %v6, %val0
  %p8 = getelementptr inbounds double, ptr %ptr1, i64 %i2
  %v9 = load double, ptr %p8
  %v10 = select i1 %v5, double %v7, double %v9
  %p11 = getelementptr inbounds double, ptr %ptr2, i64 %i2
  store double %v10, ptr %p11
  %i12 = add nuw nsw i64 %i2, 1
  %c13 = icmp ult i64 %i12, 6
  br i1 %c13, label %loop1, label %after14
after14:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %io3, ptr noalias %ws) noinline nounwind {
entry:
  %v1 = load double, ptr %io2
  call void @kernel0(ptr %io0, ptr %io1, ptr %io3, double %v1)
  ret void
}
