define internal double @kernel0(ptr noalias %ptr0, ptr noalias %ptr1) noinline nounwind {
entry:
  %a1 = alloca double, align 8
  store double 0x0000000000000000, ptr %a1
  br label %loop2
loop2:
  %i3 = phi i64 [0, %entry], [%i11, %loop2]
  %p4 = getelementptr inbounds double, ptr %ptr0, i64 %i3
  %v5 = load double, ptr %p4
  %p6 = getelementptr inbounds double, ptr %ptr1, i64 %i3
  %v7 = load double, ptr %p6
  %v8 = fmul double %v5, %v7
  %v9 = load double, ptr %a1
  %v10 = fadd double %v9, %v8
  store double %v10, ptr %a1
  %i11 = add nuw nsw i64 %i3, 1
  %c12 = icmp ult i64 %i11, 6
  br i1 %c12, label %loop2, label %after13
after13:
  %v14 = load double, ptr %a1
  ret double %v14
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  %v1 = call double @kernel0(ptr %io0, ptr %io1)
  store double %v1, ptr %io2
  ret void
}
