define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i9, %loop1]
  %p3 = getelementptr inbounds i8, ptr %ptr0, i64 %i2
  %v4 = load i8, ptr %p3
  %v5 = trunc i8 %v4 to i1
  %v6 = xor i1 %v5, true
  %p7 = getelementptr inbounds i8, ptr %ptr1, i64 %i2
  %v8 = zext i1 %v6 to i8
  store i8 %v8, ptr %p7
  %i9 = add nuw nsw i64 %i2, 1
  %c10 = icmp ult i64 %i9, 6
  br i1 %c10, label %loop1, label %after11
after11:
  ret void
}

define internal i8 @kernel1(ptr noalias %ptr0) noinline nounwind {
entry:
  %a1 = alloca i1, align 8
  store i1 false, ptr %a1
  br label %loop2
loop2:
  %i3 = phi i64 [0, %entry], [%i9, %loop2]
  %v4 = load i1, ptr %a1
  %p5 = getelementptr inbounds i8, ptr %ptr0, i64 %i3
  %v6 = load i8, ptr %p5
  %v7 = trunc i8 %v6 to i1
  %v8 = or i1 %v4, %v7
  store i1 %v8, ptr %a1
  %i9 = add nuw nsw i64 %i3, 1
  %c10 = icmp ult i64 %i9, 6
  br i1 %c10, label %loop2, label %after11
after11:
  %v12 = load i1, ptr %a1
  %v13 = zext i1 %v12 to i8
  ret i8 %v13
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io0, ptr %io1)
  %v1 = call i8 @kernel1(ptr %io0)
  %v2 = trunc i8 %v1 to i1
  %v3 = zext i1 %v2 to i8
  store i8 %v3, ptr %io2
  ret void
}
