define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1) noinline nounwind {
entry:
  %a3 = alloca double, align 8
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i18, %after15]
  store double 0x0000000000000000, ptr %a3
  br label %loop4
loop4:
  %i5 = phi i64 [0, %loop1], [%i13, %loop4]
  %v6 = load double, ptr %a3
  %i7 = mul nsw i64 %i2, 4
  %i8 = add nsw i64 %i7, %i5
  %p9 = getelementptr inbounds double, ptr %ptr0, i64 %i8
  %v10 = load double, ptr %p9
  %v11 = call double @llvm.exp.f64(double %v10)
  %v12 = fadd double %v6, %v11
  store double %v12, ptr %a3
  %i13 = add nuw nsw i64 %i5, 1
  %c14 = icmp ult i64 %i13, 4
  br i1 %c14, label %loop4, label %after15
after15:
  %v16 = load double, ptr %a3
  %p17 = getelementptr inbounds double, ptr %ptr1, i64 %i2
  store double %v16, ptr %p17
  %i18 = add nuw nsw i64 %i2, 1
  %c19 = icmp ult i64 %i18, 3
  br i1 %c19, label %loop1, label %after20, !llvm.loop !0
after20:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io0, ptr %io1)
  ret void
}
