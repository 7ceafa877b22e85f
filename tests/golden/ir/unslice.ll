define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i8, %loop1]
  %i3 = mul nsw i64 %i2, 2
  %p4 = getelementptr inbounds double, ptr %ptr0, i64 %i3
  %v5 = load double, ptr %p4
  %v6 = fmul double %v5, 0x4000000000000000
  %p7 = getelementptr inbounds double, ptr %ptr1, i64 %i2
  store double %v6, ptr %p7
  %i8 = add nuw nsw i64 %i2, 1
  %c9 = icmp ult i64 %i8, 4
  br i1 %c9, label %loop1, label %after10
after10:
  ret void
}

define internal void @kernel1(ptr %ptr0, ptr noalias %ptr1, ptr %ptr2) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i4, %loop1]
  %p3 = getelementptr inbounds double, ptr %ptr0, i64 %i2
  store double 0x0000000000000000, ptr %p3
  %i4 = add nuw nsw i64 %i2, 1
  %c5 = icmp ult i64 %i4, 12
  br i1 %c5, label %loop1, label %after6
after6:
  br label %loop7
loop7:
  %i8 = phi i64 [0, %after6], [%i13, %loop7]
  %p9 = getelementptr inbounds double, ptr %ptr1, i64 %i8
  %v10 = load double, ptr %p9
  %i11 = mul nsw i64 %i8, 2
  %p12 = getelementptr inbounds double, ptr %ptr2, i64 %i11
  store double %v10, ptr %p12
  %i13 = add nuw nsw i64 %i8, 1
  %c14 = icmp ult i64 %i13, 4
  br i1 %c14, label %loop7, label %after15
after15:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %ws) noinline nounwind {
entry:
  %p1 = getelementptr inbounds double, ptr %io0, i64 4
  call void @kernel0(ptr %p1, ptr %ws)
  %p2 = getelementptr inbounds double, ptr %io1, i64 4
  call void @kernel1(ptr %io1, ptr %ws, ptr %p2)
  ret void
}
