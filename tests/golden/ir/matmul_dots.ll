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
  %a152 = alloca double, align 8
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i176, %after175]
  br label %loop3
loop3:
  %i4 = phi i64 [0, %loop1], [%i146, %after113]
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
  %i22 = phi i64 [0, %loop3], [%i111, %loop21]
  %i23 = mul nsw i64 %i22, 17
  %i24 = add nsw i64 %i2, %i23
  %p25 = getelementptr inbounds double, ptr %ptr0, i64 %i24
  %v26 = load double, ptr %p25
  %i27 = mul nsw i64 %i5, 5
  %i28 = add nsw i64 %i22, %i27
  %p29 = getelementptr inbounds double, ptr %ptr1, i64 %i28
  %v30 = load double, ptr %p29
  %v31 = fmul double %v26, %v30
  %v32 = load double, ptr %a13
  %v33 = fadd double %v32, %v31
  store double %v33, ptr %a13
  %i34 = mul nsw i64 %i22, 17
  %i35 = add nsw i64 %i2, %i34
  %p36 = getelementptr inbounds double, ptr %ptr0, i64 %i35
  %v37 = load double, ptr %p36
  %i38 = mul nsw i64 %i6, 5
  %i39 = add nsw i64 %i22, %i38
  %p40 = getelementptr inbounds double, ptr %ptr1, i64 %i39
  %v41 = load double, ptr %p40
  %v42 = fmul double %v37, %v41
  %v43 = load double, ptr %a14
  %v44 = fadd double %v43, %v42
  store double %v44, ptr %a14
  %i45 = mul nsw i64 %i22, 17
  %i46 = add nsw i64 %i2, %i45
  %p47 = getelementptr inbounds double, ptr %ptr0, i64 %i46
  %v48 = load double, ptr %p47
  %i49 = mul nsw i64 %i7, 5
  %i50 = add nsw i64 %i22, %i49
  %p51 = getelementptr inbounds double, ptr %ptr1, i64 %i50
  %v52 = load double, ptr %p51
  %v53 = fmul double %v48, %v52
  %v54 = load double, ptr %a15
  %v55 = fadd double %v54, %v53
  store double %v55, ptr %a15
  %i56 = mul nsw i64 %i22, 17
  %i57 = add nsw i64 %i2, %i56
  %p58 = getelementptr inbounds double, ptr %ptr0, i64 %i57
  %v59 = load double, ptr %p58
  %i60 = mul nsw i64 %i8, 5
  %i61 = add nsw i64 %i22, %i60
  %p62 = getelementptr inbounds double, ptr %ptr1, i64 %i61
  %v63 = load double, ptr %p62
  %v64 = fmul double %v59, %v63
  %v65 = load double, ptr %a16
  %v66 = fadd double %v65, %v64
  store double %v66, ptr %a16
  %i67 = mul nsw i64 %i22, 17
  %i68 = add nsw i64 %i2, %i67
  %p69 = getelementptr inbounds double, ptr %ptr0, i64 %i68
  %v70 = load double, ptr %p69
  %i71 = mul nsw i64 %i9, 5
  %i72 = add nsw i64 %i22, %i71
  %p73 = getelementptr inbounds double, ptr %ptr1, i64 %i72
  %v74 = load double, ptr %p73
  %v75 = fmul double %v70, %v74
  %v76 = load double, ptr %a17
  %v77 = fadd double %v76, %v75
  store double %v77, ptr %a17
  %i78 = mul nsw i64 %i22, 17
  %i79 = add nsw i64 %i2, %i78
  %p80 = getelementptr inbounds double, ptr %ptr0, i64 %i79
  %v81 = load double, ptr %p80
  %i82 = mul nsw i64 %i10, 5
  %i83 = add nsw i64 %i22, %i82
  %p84 = getelementptr inbounds double, ptr %ptr1, i64 %i83
  %v85 = load double, ptr %p84
  %v86 = fmul double %v81, %v85
  %v87 = load double, ptr %a18
  %v88 = fadd double %v87, %v86
  store double %v88, ptr %a18
  %i89 = mul nsw i64 %i22, 17
  %i90 = add nsw i64 %i2, %i89
  %p91 = getelementptr inbounds double, ptr %ptr0, i64 %i90
  %v92 = load double, ptr %p91
  %i93 = mul nsw i64 %i11, 5
  %i94 = add nsw i64 %i22, %i93
  %p95 = getelementptr inbounds double, ptr %ptr1, i64 %i94
  %v96 = load double, ptr %p95
  %v97 = fmul double %v92, %v96
  %v98 = load double, ptr %a19
  %v99 = fadd double %v98, %v97
  store double %v99, ptr %a19
  %i100 = mul nsw i64 %i22, 17
  %i101 = add nsw i64 %i2, %i100
  %p102 = getelementptr inbounds double, ptr %ptr0, i64 %i101
  %v103 = load double, ptr %p102
  %i104 = mul nsw i64 %i12, 5
  %i105 = add nsw i64 %i22, %i104
  %p106 = getelementptr inbounds double, ptr %ptr1, i64 %i105
  %v107 = load double, ptr %p106
  %v108 = fmul double %v103, %v107
  %v109 = load double, ptr %a20
  %v110 = fadd double %v109, %v108
  store double %v110, ptr %a20
  %i111 = add nuw nsw i64 %i22, 1
  %c112 = icmp ult i64 %i111, 5
  br i1 %c112, label %loop21, label %after113
after113:
  %v114 = load double, ptr %a13
  %i115 = mul nsw i64 %i2, 18
  %i116 = add nsw i64 %i115, %i5
  %p117 = getelementptr inbounds double, ptr %ptr2, i64 %i116
  store double %v114, ptr %p117
  %v118 = load double, ptr %a14
  %i119 = mul nsw i64 %i2, 18
  %i120 = add nsw i64 %i119, %i6
  %p121 = getelementptr inbounds double, ptr %ptr2, i64 %i120
  store double %v118, ptr %p121
  %v122 = load double, ptr %a15
  %i123 = mul nsw i64 %i2, 18
  %i124 = add nsw i64 %i123, %i7
  %p125 = getelementptr inbounds double, ptr %ptr2, i64 %i124
  store double %v122, ptr %p125
  %v126 = load double, ptr %a16
  %i127 = mul nsw i64 %i2, 18
  %i128 = add nsw i64 %i127, %i8
  %p129 = getelementptr inbounds double, ptr %ptr2, i64 %i128
  store double %v126, ptr %p129
  %v130 = load double, ptr %a17
  %i131 = mul nsw i64 %i2, 18
  %i132 = add nsw i64 %i131, %i9
  %p133 = getelementptr inbounds double, ptr %ptr2, i64 %i132
  store double %v130, ptr %p133
  %v134 = load double, ptr %a18
  %i135 = mul nsw i64 %i2, 18
  %i136 = add nsw i64 %i135, %i10
  %p137 = getelementptr inbounds double, ptr %ptr2, i64 %i136
  store double %v134, ptr %p137
  %v138 = load double, ptr %a19
  %i139 = mul nsw i64 %i2, 18
  %i140 = add nsw i64 %i139, %i11
  %p141 = getelementptr inbounds double, ptr %ptr2, i64 %i140
  store double %v138, ptr %p141
  %v142 = load double, ptr %a20
  %i143 = mul nsw i64 %i2, 18
  %i144 = add nsw i64 %i143, %i12
  %p145 = getelementptr inbounds double, ptr %ptr2, i64 %i144
  store double %v142, ptr %p145
  %i146 = add nuw nsw i64 %i4, 1
  %c147 = icmp ult i64 %i146, 2
  br i1 %c147, label %loop3, label %after148, !llvm.loop !0
after148:
  br label %loop149
loop149:
  %i150 = phi i64 [0, %after148], [%i173, %after168]
  %i151 = add nsw i64 %i150, 16
  store double 0x0000000000000000, ptr %a152
  br label %loop153
loop153:
  %i154 = phi i64 [0, %loop149], [%i166, %loop153]
  %i155 = mul nsw i64 %i154, 17
  %i156 = add nsw i64 %i2, %i155
  %p157 = getelementptr inbounds double, ptr %ptr0, i64 %i156
  %v158 = load double, ptr %p157
  %i159 = mul nsw i64 %i151, 5
  %i160 = add nsw i64 %i154, %i159
  %p161 = getelementptr inbounds double, ptr %ptr1, i64 %i160
  %v162 = load double, ptr %p161
  %v163 = fmul double %v158, %v162
  %v164 = load double, ptr %a152
  %v165 = fadd double %v164, %v163
  store double %v165, ptr %a152
  %i166 = add nuw nsw i64 %i154, 1
  %c167 = icmp ult i64 %i166, 5
  br i1 %c167, label %loop153, label %after168
after168:
  %v169 = load double, ptr %a152
  %i170 = mul nsw i64 %i2, 18
  %i171 = add nsw i64 %i170, %i151
  %p172 = getelementptr inbounds double, ptr %ptr2, i64 %i171
  store double %v169, ptr %p172
  %i173 = add nuw nsw i64 %i150, 1
  %c174 = icmp ult i64 %i173, 2
  br i1 %c174, label %loop149, label %after175, !llvm.loop !0
after175:
  %i176 = add nuw nsw i64 %i2, 1
  %c177 = icmp ult i64 %i176, 17
  br i1 %c177, label %loop1, label %after178, !llvm.loop !0
after178:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io0, ptr %io1, ptr %io2)
  ret void
}
