define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1, ptr noalias %ptr2) noinline nounwind {
entry:
  %a7 = alloca <3 x double>, align 8
  %a8 = alloca <3 x double>, align 8
  %a9 = alloca <3 x double>, align 8
  %a10 = alloca <3 x double>, align 8
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i72, %after55]
  %i3 = mul nsw i64 %i2, 4
  %i4 = add nsw i64 %i3, 1
  %i5 = add nsw i64 %i3, 2
  %i6 = add nsw i64 %i3, 3
  store <3 x double> zeroinitializer, ptr %a7
  store <3 x double> zeroinitializer, ptr %a8
  store <3 x double> zeroinitializer, ptr %a9
  store <3 x double> zeroinitializer, ptr %a10
  br label %loop11
loop11:
  %i12 = phi i64 [0, %loop1], [%i53, %loop11]
  %i13 = mul nsw i64 %i12, 3
  %i14 = add nsw i64 %i13, 0
  %p15 = getelementptr inbounds double, ptr %ptr0, i64 %i14
  %v16 = load <3 x double>, ptr %p15, align 8
  %i17 = mul nsw i64 %i3, 5
  %i18 = add nsw i64 %i17, %i12
  %p19 = getelementptr inbounds double, ptr %ptr1, i64 %i18
  %v20 = load double, ptr %p19
  %v21 = insertelement <3 x double> poison, double %v20, i32 0
  %v22 = shufflevector <3 x double> %v21, <3 x double> poison, <3 x i32> zeroinitializer
  %v23 = fmul <3 x double> %v22, %v16
  %v24 = load <3 x double>, ptr %a7
  %v25 = fadd <3 x double> %v24, %v23
  store <3 x double> %v25, ptr %a7
  %i26 = mul nsw i64 %i4, 5
  %i27 = add nsw i64 %i26, %i12
  %p28 = getelementptr inbounds double, ptr %ptr1, i64 %i27
  %v29 = load double, ptr %p28
  %v30 = insertelement <3 x double> poison, double %v29, i32 0
  %v31 = shufflevector <3 x double> %v30, <3 x double> poison, <3 x i32> zeroinitializer
  %v32 = fmul <3 x double> %v31, %v16
  %v33 = load <3 x double>, ptr %a8
  %v34 = fadd <3 x double> %v33, %v32
  store <3 x double> %v34, ptr %a8
  %i35 = mul nsw i64 %i5, 5
  %i36 = add nsw i64 %i35, %i12
  %p37 = getelementptr inbounds double, ptr %ptr1, i64 %i36
  %v38 = load double, ptr %p37
  %v39 = insertelement <3 x double> poison, double %v38, i32 0
  %v40 = shufflevector <3 x double> %v39, <3 x double> poison, <3 x i32> zeroinitializer
  %v41 = fmul <3 x double> %v40, %v16
  %v42 = load <3 x double>, ptr %a9
  %v43 = fadd <3 x double> %v42, %v41
  store <3 x double> %v43, ptr %a9
  %i44 = mul nsw i64 %i6, 5
  %i45 = add nsw i64 %i44, %i12
  %p46 = getelementptr inbounds double, ptr %ptr1, i64 %i45
  %v47 = load double, ptr %p46
  %v48 = insertelement <3 x double> poison, double %v47, i32 0
  %v49 = shufflevector <3 x double> %v48, <3 x double> poison, <3 x i32> zeroinitializer
  %v50 = fmul <3 x double> %v49, %v16
  %v51 = load <3 x double>, ptr %a10
  %v52 = fadd <3 x double> %v51, %v50
  store <3 x double> %v52, ptr %a10
  %i53 = add nuw nsw i64 %i12, 1
  %c54 = icmp ult i64 %i53, 5
  br i1 %c54, label %loop11, label %after55
after55:
  %v56 = load <3 x double>, ptr %a7
  %i57 = mul nsw i64 %i3, 3
  %i58 = add nsw i64 %i57, 0
  %p59 = getelementptr inbounds double, ptr %ptr2, i64 %i58
  store <3 x double> %v56, ptr %p59, align 8
  %v60 = load <3 x double>, ptr %a8
  %i61 = mul nsw i64 %i4, 3
  %i62 = add nsw i64 %i61, 0
  %p63 = getelementptr inbounds double, ptr %ptr2, i64 %i62
  store <3 x double> %v60, ptr %p63, align 8
  %v64 = load <3 x double>, ptr %a9
  %i65 = mul nsw i64 %i5, 3
  %i66 = add nsw i64 %i65, 0
  %p67 = getelementptr inbounds double, ptr %ptr2, i64 %i66
  store <3 x double> %v64, ptr %p67, align 8
  %v68 = load <3 x double>, ptr %a10
  %i69 = mul nsw i64 %i6, 3
  %i70 = add nsw i64 %i69, 0
  %p71 = getelementptr inbounds double, ptr %ptr2, i64 %i70
  store <3 x double> %v68, ptr %p71, align 8
  %i72 = add nuw nsw i64 %i2, 1
  %c73 = icmp ult i64 %i72, 1
  br i1 %c73, label %loop1, label %after74, !llvm.loop !0
after74:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io1, ptr %io0, ptr %io2)
  ret void
}
