define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i4, %loop1]
  %p3 = getelementptr inbounds double, ptr %ptr0, i64 %i2
  store double 0xFFF0000000000000, ptr %p3
  %i4 = add nuw nsw i64 %i2, 1
  %c5 = icmp ult i64 %i4, 4
  br i1 %c5, label %loop1, label %after6
after6:
  br label %loop7
loop7:
  %i8 = phi i64 [0, %after6], [%i24, %after23]
  br label %loop9
loop9:
  %i10 = phi i64 [0, %loop7], [%i21, %loop9]
  %p11 = getelementptr inbounds double, ptr %ptr0, i64 %i10
  %v12 = load double, ptr %p11
  %i13 = mul nsw i64 %i8, 4
  %i14 = add nsw i64 %i13, %i10
  %p15 = getelementptr inbounds double, ptr %ptr1, i64 %i14
  %v16 = load double, ptr %p15
  %v17 = fcmp ogt double %v12, %v16
  %v18 = fcmp uno double %v12, 0.0
  %v19 = or i1 %v17, %v18
  %v20 = select i1 %v19, double %v12, double %v16
  store double %v20, ptr %p11
  %i21 = add nuw nsw i64 %i10, 1
  %c22 = icmp ult i64 %i21, 4
  br i1 %c22, label %loop9, label %after23
after23:
  %i24 = add nuw nsw i64 %i8, 1
  %c25 = icmp ult i64 %i24, 3
  br i1 %c25, label %loop7, label %after26, !llvm.loop !0
after26:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io1, ptr %io0)
  ret void
}
