define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %ws) alwaysinline nounwind {
entry:
  %v1 = load double, ptr %io0
  %v2 = call double @llvm.exp.f64(double %v1)
  %v3 = fmul double %v2, %v1
  %v4 = fadd double %v3, 0x3FF0000000000000
  store double %v4, ptr %io1
  ret void
}
