define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1, ptr noalias %ptr2) noinline nounwind {
entry:
  %a13 = alloca double, align 8
  %a14 = alloca double, align 8
  %a15 = alloca double, align 8
  %a16 = alloca double, align 8
  %a17 = alloca double, align 8
  %a18 = alloca double, align 8
  %a19 = alloca double, align 8
  %a20 = alloca double, align 8
  %a120 = alloca double, align 8
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i140, %after139]
  br label %loop3
loop3:
  %i4 = phi i64 [0, %loop1], [%i114, %after97]
  %i5 = mul nsw i64 %i4, 8
  %i6 = add nsw i64 %i5, 1
  %i7 = add nsw i64 %i5, 2
  %i8 = add nsw i64 %i5, 3
  %i9 = add nsw i64 %i5, 4
  %i10 = add nsw i64 %i5, 5
  %i11 = add nsw i64 %i5, 6
  %i12 = add nsw i64 %i5, 7
  store double 0x0000000000000000, ptr %a13
  store double 0x0000000000000000, ptr %a14
  store double 0x0000000000000000, ptr %a15
  store double 0x0000000000000000, ptr %a16
  store double 0x0000000000000000, ptr %a17
  store double 0x0000000000000000, ptr %a18
  store double 0x0000000000000000, ptr %a19
  store double 0x0000000000000000, ptr %a20
  br label %loop21
loop21:
  %i22 = phi i64 [0, %loop3], [%i95, %loop21]
  %i23 = mul nsw i64 %i5, 6
  %i24 = add nsw i64 %i23, %i22
  %p25 = getelementptr inbounds double, ptr %ptr0, i64 %i24
  %v26 = load double, ptr %p25
  %p27 = getelementptr inbounds double, ptr %ptr1, i64 %i22
  %v28 = load double, ptr %p27
  %v29 = fmul double %v26, %v28
  %v30 = load double, ptr %a13
  %v31 = fadd double %v30, %v29
  store double %v31, ptr %a13
  %i32 = mul nsw i64 %i6, 6
  %i33 = add nsw i64 %i32, %i22
  %p34 = getelementptr inbounds double, ptr %ptr0, i64 %i33
  %v35 = load double, ptr %p34
  %p36 = getelementptr inbounds double, ptr %ptr1, i64 %i22
  %v37 = load double, ptr %p36
  %v38 = fmul double %v35, %v37
  %v39 = load double, ptr %a14
  %v40 = fadd double %v39, %v38
  store double %v40, ptr %a14
  %i41 = mul nsw i64 %i7, 6
  %i42 = add nsw i64 %i41, %i22
  %p43 = getelementptr inbounds double, ptr %ptr0, i64 %i42
  %v44 = load double, ptr %p43
  %p45 = getelementptr inbounds double, ptr %ptr1, i64 %i22
  %v46 = load double, ptr %p45
  %v47 = fmul double %v44, %v46
  %v48 = load double, ptr %a15
  %v49 = fadd double %v48, %v47
  store double %v49, ptr %a15
  %i50 = mul nsw i64 %i8, 6
  %i51 = add nsw i64 %i50, %i22
  %p52 = getelementptr inbounds double, ptr %ptr0, i64 %i51
  %v53 = load double, ptr %p52
  %p54 = getelementptr inbounds double, ptr %ptr1, i64 %i22
  %v55 = load double, ptr %p54
  %v56 = fmul double %v53, %v55
  %v57 = load double, ptr %a16
  %v58 = fadd double %v57, %v56
  store double %v58, ptr %a16
  %i59 = mul nsw i64 %i9, 6
  %i60 = add nsw i64 %i59, %i22
  %p61 = getelementptr inbounds double, ptr %ptr0, i64 %i60
  %v62 = load double, ptr %p61
  %p63 = getelementptr inbounds double, ptr %ptr1, i64 %i22
  %v64 = load double, ptr %p63
  %v65 = fmul double %v62, %v64
  %v66 = load double, ptr %a17
  %v67 = fadd double %v66, %v65
  store double %v67, ptr %a17
  %i68 = mul nsw i64 %i10, 6
  %i69 = add nsw i64 %i68, %i22
  %p70 = getelementptr inbounds double, ptr %ptr0, i64 %i69
  %v71 = load double, ptr %p70
  %p72 = getelementptr inbounds double, ptr %ptr1, i64 %i22
  %v73 = load double, ptr %p72
  %v74 = fmul double %v71, %v73
  %v75 = load double, ptr %a18
  %v76 = fadd double %v75, %v74
  store double %v76, ptr %a18
  %i77 = mul nsw i64 %i11, 6
  %i78 = add nsw i64 %i77, %i22
  %p79 = getelementptr inbounds double, ptr %ptr0, i64 %i78
  %v80 = load double, ptr %p79
  %p81 = getelementptr inbounds double, ptr %ptr1, i64 %i22
  %v82 = load double, ptr %p81
  %v83 = fmul double %v80, %v82
  %v84 = load double, ptr %a19
  %v85 = fadd double %v84, %v83
  store double %v85, ptr %a19
  %i86 = mul nsw i64 %i12, 6
  %i87 = add nsw i64 %i86, %i22
  %p88 = getelementptr inbounds double, ptr %ptr0, i64 %i87
  %v89 = load double, ptr %p88
  %p90 = getelementptr inbounds double, ptr %ptr1, i64 %i22
  %v91 = load double, ptr %p90
  %v92 = fmul double %v89, %v91
  %v93 = load double, ptr %a20
  %v94 = fadd double %v93, %v92
  store double %v94, ptr %a20
  %i95 = add nuw nsw i64 %i22, 1
  %c96 = icmp ult i64 %i95, 6
  br i1 %c96, label %loop21, label %after97
after97:
  %v98 = load double, ptr %a13
  %p99 = getelementptr inbounds double, ptr %ptr2, i64 %i5
  store double %v98, ptr %p99
  %v100 = load double, ptr %a14
  %p101 = getelementptr inbounds double, ptr %ptr2, i64 %i6
  store double %v100, ptr %p101
  %v102 = load double, ptr %a15
  %p103 = getelementptr inbounds double, ptr %ptr2, i64 %i7
  store double %v102, ptr %p103
  %v104 = load double, ptr %a16
  %p105 = getelementptr inbounds double, ptr %ptr2, i64 %i8
  store double %v104, ptr %p105
  %v106 = load double, ptr %a17
  %p107 = getelementptr inbounds double, ptr %ptr2, i64 %i9
  store double %v106, ptr %p107
  %v108 = load double, ptr %a18
  %p109 = getelementptr inbounds double, ptr %ptr2, i64 %i10
  store double %v108, ptr %p109
  %v110 = load double, ptr %a19
  %p111 = getelementptr inbounds double, ptr %ptr2, i64 %i11
  store double %v110, ptr %p111
  %v112 = load double, ptr %a20
  %p113 = getelementptr inbounds double, ptr %ptr2, i64 %i12
  store double %v112, ptr %p113
  %i114 = add nuw nsw i64 %i4, 1
  %c115 = icmp ult i64 %i114, 2
  br i1 %c115, label %loop3, label %after116, !llvm.loop !0
after116:
  br label %loop117
loop117:
  %i118 = phi i64 [0, %after116], [%i137, %after134]
  %i119 = add nsw i64 %i118, 16
  store double 0x0000000000000000, ptr %a120
  br label %loop121
loop121:
  %i122 = phi i64 [0, %loop117], [%i132, %loop121]
  %i123 = mul nsw i64 %i119, 6
  %i124 = add nsw i64 %i123, %i122
  %p125 = getelementptr inbounds double, ptr %ptr0, i64 %i124
  %v126 = load double, ptr %p125
  %p127 = getelementptr inbounds double, ptr %ptr1, i64 %i122
  %v128 = load double, ptr %p127
  %v129 = fmul double %v126, %v128
  %v130 = load double, ptr %a120
  %v131 = fadd double %v130, %v129
  store double %v131, ptr %a120
  %i132 = add nuw nsw i64 %i122, 1
  %c133 = icmp ult i64 %i132, 6
  br i1 %c133, label %loop121, label %after134
after134:
  %v135 = load double, ptr %a120
  %p136 = getelementptr inbounds double, ptr %ptr2, i64 %i119
  store double %v135, ptr %p136
  %i137 = add nuw nsw i64 %i118, 1
  %c138 = icmp ult i64 %i137, 2
  br i1 %c138, label %loop117, label %after139, !llvm.loop !0
after139:
  %i140 = add nuw nsw i64 %i2, 1
  %c141 = icmp ult i64 %i140, 1
  br i1 %c141, label %loop1, label %after142, !llvm.loop !0
after142:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io0, ptr %io1, ptr %io2)
  ret void
}
