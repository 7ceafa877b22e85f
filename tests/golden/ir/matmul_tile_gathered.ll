define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1, ptr noalias %ptr2) noinline nounwind {
entry:
  %a1 = alloca <4 x double>, align 8
  %a2 = alloca <4 x double>, align 8
  %a3 = alloca <4 x double>, align 8
  store <4 x double> zeroinitializer, ptr %a1
  store <4 x double> zeroinitializer, ptr %a2
  store <4 x double> zeroinitializer, ptr %a3
  br label %loop4
loop4:
  %i5 = phi i64 [0, %entry], [%i53, %loop4]
  %i6 = mul nsw i64 0, 5
  %i7 = add nsw i64 %i5, %i6
  %p8 = getelementptr inbounds double, ptr %ptr0, i64 %i7
  %v9 = load double, ptr %p8
  %v10 = insertelement <4 x double> poison, double %v9, i32 0
  %i11 = mul nsw i64 1, 5
  %i12 = add nsw i64 %i5, %i11
  %p13 = getelementptr inbounds double, ptr %ptr0, i64 %i12
  %v14 = load double, ptr %p13
  %v15 = insertelement <4 x double> %v10, double %v14, i32 1
  %i16 = mul nsw i64 2, 5
  %i17 = add nsw i64 %i5, %i16
  %p18 = getelementptr inbounds double, ptr %ptr0, i64 %i17
  %v19 = load double, ptr %p18
  %v20 = insertelement <4 x double> %v15, double %v19, i32 2
  %i21 = mul nsw i64 3, 5
  %i22 = add nsw i64 %i5, %i21
  %p23 = getelementptr inbounds double, ptr %ptr0, i64 %i22
  %v24 = load double, ptr %p23
  %v25 = insertelement <4 x double> %v20, double %v24, i32 3
  %i26 = mul nsw i64 %i5, 3
  %i27 = add nsw i64 0, %i26
  %p28 = getelementptr inbounds double, ptr %ptr1, i64 %i27
  %v29 = load double, ptr %p28
  %v30 = insertelement <4 x double> poison, double %v29, i32 0
  %v31 = shufflevector <4 x double> %v30, <4 x double> poison, <4 x i32> zeroinitializer
  %v32 = fmul <4 x double> %v31, %v25
  %v33 = load <4 x double>, ptr %a1
  %v34 = fadd <4 x double> %v33, %v32
  store <4 x double> %v34, ptr %a1
  %i35 = mul nsw i64 %i5, 3
  %i36 = add nsw i64 1, %i35
  %p37 = getelementptr inbounds double, ptr %ptr1, i64 %i36
  %v38 = load double, ptr %p37
  %v39 = insertelement <4 x double> poison, double %v38, i32 0
  %v40 = shufflevector <4 x double> %v39, <4 x double> poison, <4 x i32> zeroinitializer
  %v41 = fmul <4 x double> %v40, %v25
  %v42 = load <4 x double>, ptr %a2
  %v43 = fadd <4 x double> %v42, %v41
  store <4 x double> %v43, ptr %a2
  %i44 = mul nsw i64 %i5, 3
  %i45 = add nsw i64 2, %i44
  %p46 = getelementptr inbounds double, ptr %ptr1, i64 %i45
  %v47 = load double, ptr %p46
  %v48 = insertelement <4 x double> poison, double %v47, i32 0
  %v49 = shufflevector <4 x double> %v48, <4 x double> poison, <4 x i32> zeroinitializer
  %v50 = fmul <4 x double> %v49, %v25
  %v51 = load <4 x double>, ptr %a3
  %v52 = fadd <4 x double> %v51, %v50
  store <4 x double> %v52, ptr %a3
  %i53 = add nuw nsw i64 %i5, 1
  %c54 = icmp ult i64 %i53, 5
  br i1 %c54, label %loop4, label %after55
after55:
  %v56 = load <4 x double>, ptr %a1
  %i57 = mul nsw i64 0, 4
  %i58 = add nsw i64 %i57, 0
  %p59 = getelementptr inbounds double, ptr %ptr2, i64 %i58
  store <4 x double> %v56, ptr %p59, align 8
  %v60 = load <4 x double>, ptr %a2
  %i61 = mul nsw i64 1, 4
  %i62 = add nsw i64 %i61, 0
  %p63 = getelementptr inbounds double, ptr %ptr2, i64 %i62
  store <4 x double> %v60, ptr %p63, align 8
  %v64 = load <4 x double>, ptr %a3
  %i65 = mul nsw i64 2, 4
  %i66 = add nsw i64 %i65, 0
  %p67 = getelementptr inbounds double, ptr %ptr2, i64 %i66
  store <4 x double> %v64, ptr %p67, align 8
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io0, ptr %io1, ptr %io2)
  ret void
}
