define internal double @kernel0(ptr noalias %ptr0) noinline nounwind {
entry:
  %a1 = alloca double, align 8
  store double 0x0000000000000000, ptr %a1
  br label %loop2
loop2:
  %i3 = phi i64 [0, %entry], [%i9, %loop2]
  %v4 = load double, ptr %a1
  %p5 = getelementptr inbounds double, ptr %ptr0, i64 %i3
  %v6 = load double, ptr %p5
  %v7 = fmul double %v6, %v6
  %v8 = fadd double %v4, %v7
  store double %v8, ptr %a1
  %i9 = add nuw nsw i64 %i3, 1
  %c10 = icmp ult i64 %i9, 6
  br i1 %c10, label %loop2, label %after11
after11:
  %v12 = load double, ptr %a1
  ret double %v12
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %ws) noinline nounwind {
entry:
  %v1 = call double @kernel0(ptr %io0)
  store double %v1, ptr %io1
  ret void
}
