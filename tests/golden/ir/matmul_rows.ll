define internal void @kernel0(ptr noalias %ptr0, ptr noalias %ptr1, ptr noalias %ptr2) noinline nounwind {
entry:
  br label %loop1
loop1:
  %i2 = phi i64 [0, %entry], [%i221, %after220]
  %i3 = mul nsw i64 %i2, 4
  %i4 = add nsw i64 %i3, 1
  %i5 = add nsw i64 %i3, 2
  %i6 = add nsw i64 %i3, 3
  br label %loop7
loop7:
  %i8 = phi i64 [0, %loop1], [%i21, %loop7]
  %i9 = mul nsw i64 %i3, 17
  %i10 = add nsw i64 %i9, %i8
  %p11 = getelementptr inbounds double, ptr %ptr0, i64 %i10
  store double 0x0000000000000000, ptr %p11
  %i12 = mul nsw i64 %i4, 17
  %i13 = add nsw i64 %i12, %i8
  %p14 = getelementptr inbounds double, ptr %ptr0, i64 %i13
  store double 0x0000000000000000, ptr %p14
  %i15 = mul nsw i64 %i5, 17
  %i16 = add nsw i64 %i15, %i8
  %p17 = getelementptr inbounds double, ptr %ptr0, i64 %i16
  store double 0x0000000000000000, ptr %p17
  %i18 = mul nsw i64 %i6, 17
  %i19 = add nsw i64 %i18, %i8
  %p20 = getelementptr inbounds double, ptr %ptr0, i64 %i19
  store double 0x0000000000000000, ptr %p20
  %i21 = add nuw nsw i64 %i8, 1
  %c22 = icmp ult i64 %i21, 17
  br i1 %c22, label %loop7, label %after23
after23:
  br label %loop24
loop24:
  %i25 = phi i64 [0, %after23], [%i163, %after162]
  %i26 = mul nsw i64 %i25, 4
  %i27 = add nsw i64 %i26, 1
  %i28 = add nsw i64 %i26, 2
  %i29 = add nsw i64 %i26, 3
  %i30 = mul nsw i64 %i3, 5
  %i31 = add nsw i64 %i30, %i26
  %p32 = getelementptr inbounds double, ptr %ptr1, i64 %i31
  %v33 = load double, ptr %p32
  %i34 = mul nsw i64 %i3, 5
  %i35 = add nsw i64 %i34, %i27
  %p36 = getelementptr inbounds double, ptr %ptr1, i64 %i35
  %v37 = load double, ptr %p36
  %i38 = mul nsw i64 %i3, 5
  %i39 = add nsw i64 %i38, %i28
  %p40 = getelementptr inbounds double, ptr %ptr1, i64 %i39
  %v41 = load double, ptr %p40
  %i42 = mul nsw i64 %i3, 5
  %i43 = add nsw i64 %i42, %i29
  %p44 = getelementptr inbounds double, ptr %ptr1, i64 %i43
  %v45 = load double, ptr %p44
  %i46 = mul nsw i64 %i4, 5
  %i47 = add nsw i64 %i46, %i26
  %p48 = getelementptr inbounds double, ptr %ptr1, i64 %i47
  %v49 = load double, ptr %p48
  %i50 = mul nsw i64 %i4, 5
  %i51 = add nsw i64 %i50, %i27
  %p52 = getelementptr inbounds double, ptr %ptr1, i64 %i51
  %v53 = load double, ptr %p52
  %i54 = mul nsw i64 %i4, 5
  %i55 = add nsw i64 %i54, %i28
  %p56 = getelementptr inbounds double, ptr %ptr1, i64 %i55
  %v57 = load double, ptr %p56
  %i58 = mul nsw i64 %i4, 5
  %i59 = add nsw i64 %i58, %i29
  %p60 = getelementptr inbounds double, ptr %ptr1, i64 %i59
  %v61 = load double, ptr %p60
  %i62 = mul nsw i64 %i5, 5
  %i63 = add nsw i64 %i62, %i26
  %p64 = getelementptr inbounds double, ptr %ptr1, i64 %i63
  %v65 = load double, ptr %p64
  %i66 = mul nsw i64 %i5, 5
  %i67 = add nsw i64 %i66, %i27
  %p68 = getelementptr inbounds double, ptr %ptr1, i64 %i67
  %v69 = load double, ptr %p68
  %i70 = mul nsw i64 %i5, 5
  %i71 = add nsw i64 %i70, %i28
  %p72 = getelementptr inbounds double, ptr %ptr1, i64 %i71
  %v73 = load double, ptr %p72
  %i74 = mul nsw i64 %i5, 5
  %i75 = add nsw i64 %i74, %i29
  %p76 = getelementptr inbounds double, ptr %ptr1, i64 %i75
  %v77 = load double, ptr %p76
  %i78 = mul nsw i64 %i6, 5
  %i79 = add nsw i64 %i78, %i26
  %p80 = getelementptr inbounds double, ptr %ptr1, i64 %i79
  %v81 = load double, ptr %p80
  %i82 = mul nsw i64 %i6, 5
  %i83 = add nsw i64 %i82, %i27
  %p84 = getelementptr inbounds double, ptr %ptr1, i64 %i83
  %v85 = load double, ptr %p84
  %i86 = mul nsw i64 %i6, 5
  %i87 = add nsw i64 %i86, %i28
  %p88 = getelementptr inbounds double, ptr %ptr1, i64 %i87
  %v89 = load double, ptr %p88
  %i90 = mul nsw i64 %i6, 5
  %i91 = add nsw i64 %i90, %i29
  %p92 = getelementptr inbounds double, ptr %ptr1, i64 %i91
  %v93 = load double, ptr %p92
  br label %loop94
loop94:
  %i95 = phi i64 [0, %loop24], [%i160, %loop94]
  %i96 = mul nsw i64 %i26, 17
  %i97 = add nsw i64 %i96, %i95
  %p98 = getelementptr inbounds double, ptr %ptr2, i64 %i97
  %v99 = load double, ptr %p98
  %i100 = mul nsw i64 %i27, 17
  %i101 = add nsw i64 %i100, %i95
  %p102 = getelementptr inbounds double, ptr %ptr2, i64 %i101
  %v103 = load double, ptr %p102
  %i104 = mul nsw i64 %i28, 17
  %i105 = add nsw i64 %i104, %i95
  %p106 = getelementptr inbounds double, ptr %ptr2, i64 %i105
  %v107 = load double, ptr %p106
  %i108 = mul nsw i64 %i29, 17
  %i109 = add nsw i64 %i108, %i95
  %p110 = getelementptr inbounds double, ptr %ptr2, i64 %i109
  %v111 = load double, ptr %p110
  %i112 = mul nsw i64 %i3, 17
  %i113 = add nsw i64 %i112, %i95
  %p114 = getelementptr inbounds double, ptr %ptr0, i64 %i113
  %v115 = load double, ptr %p114
  %v116 = fmul double %v33, %v99
  %v117 = fadd double %v115, %v116
  %v118 = fmul double %v37, %v103
  %v119 = fadd double %v117, %v118
  %v120 = fmul double %v41, %v107
  %v121 = fadd double %v119, %v120
  %v122 = fmul double %v45, %v111
  %v123 = fadd double %v121, %v122
  store double %v123, ptr %p114
  %i124 = mul nsw i64 %i4, 17
  %i125 = add nsw i64 %i124, %i95
  %p126 = getelementptr inbounds double, ptr %ptr0, i64 %i125
  %v127 = load double, ptr %p126
  %v128 = fmul double %v49, %v99
  %v129 = fadd double %v127, %v128
  %v130 = fmul double %v53, %v103
  %v131 = fadd double %v129, %v130
  %v132 = fmul double %v57, %v107
  %v133 = fadd double %v131, %v132
  %v134 = fmul double %v61, %v111
  %v135 = fadd double %v133, %v134
  store double %v135, ptr %p126
  %i136 = mul nsw i64 %i5, 17
  %i137 = add nsw i64 %i136, %i95
  %p138 = getelementptr inbounds double, ptr %ptr0, i64 %i137
  %v139 = load double, ptr %p138
  %v140 = fmul double %v65, %v99
  %v141 = fadd double %v139, %v140
  %v142 = fmul double %v69, %v103
  %v143 = fadd double %v141, %v142
  %v144 = fmul double %v73, %v107
  %v145 = fadd double %v143, %v144
  %v146 = fmul double %v77, %v111
  %v147 = fadd double %v145, %v146
  store double %v147, ptr %p138
  %i148 = mul nsw i64 %i6, 17
  %i149 = add nsw i64 %i148, %i95
  %p150 = getelementptr inbounds double, ptr %ptr0, i64 %i149
  %v151 = load double, ptr %p150
  %v152 = fmul double %v81, %v99
  %v153 = fadd double %v151, %v152
  %v154 = fmul double %v85, %v103
  %v155 = fadd double %v153, %v154
  %v156 = fmul double %v89, %v107
  %v157 = fadd double %v155, %v156
  %v158 = fmul double %v93, %v111
  %v159 = fadd double %v157, %v158
  store double %v159, ptr %p150
  %i160 = add nuw nsw i64 %i95, 1
  %c161 = icmp ult i64 %i160, 17
  br i1 %c161, label %loop94, label %after162
after162:
  %i163 = add nuw nsw i64 %i25, 1
  %c164 = icmp ult i64 %i163, 1
  br i1 %c164, label %loop24, label %after165, !llvm.loop !0
after165:
  br label %loop166
loop166:
  %i167 = phi i64 [0, %after165], [%i218, %after217]
  %i168 = add nsw i64 %i167, 4
  %i169 = mul nsw i64 %i3, 5
  %i170 = add nsw i64 %i169, %i168
  %p171 = getelementptr inbounds double, ptr %ptr1, i64 %i170
  %v172 = load double, ptr %p171
  %i173 = mul nsw i64 %i4, 5
  %i174 = add nsw i64 %i173, %i168
  %p175 = getelementptr inbounds double, ptr %ptr1, i64 %i174
  %v176 = load double, ptr %p175
  %i177 = mul nsw i64 %i5, 5
  %i178 = add nsw i64 %i177, %i168
  %p179 = getelementptr inbounds double, ptr %ptr1, i64 %i178
  %v180 = load double, ptr %p179
  %i181 = mul nsw i64 %i6, 5
  %i182 = add nsw i64 %i181, %i168
  %p183 = getelementptr inbounds double, ptr %ptr1, i64 %i182
  %v184 = load double, ptr %p183
  br label %loop185
loop185:
  %i186 = phi i64 [0, %loop166], [%i215, %loop185]
  %i187 = mul nsw i64 %i168, 17
  %i188 = add nsw i64 %i187, %i186
  %p189 = getelementptr inbounds double, ptr %ptr2, i64 %i188
  %v190 = load double, ptr %p189
  %i191 = mul nsw i64 %i3, 17
  %i192 = add nsw i64 %i191, %i186
  %p193 = getelementptr inbounds double, ptr %ptr0, i64 %i192
  %v194 = load double, ptr %p193
  %v195 = fmul double %v172, %v190
  %v196 = fadd double %v194, %v195
  store double %v196, ptr %p193
  %i197 = mul nsw i64 %i4, 17
  %i198 = add nsw i64 %i197, %i186
  %p199 = getelementptr inbounds double, ptr %ptr0, i64 %i198
  %v200 = load double, ptr %p199
  %v201 = fmul double %v176, %v190
  %v202 = fadd double %v200, %v201
  store double %v202, ptr %p199
  %i203 = mul nsw i64 %i5, 17
  %i204 = add nsw i64 %i203, %i186
  %p205 = getelementptr inbounds double, ptr %ptr0, i64 %i204
  %v206 = load double, ptr %p205
  %v207 = fmul double %v180, %v190
  %v208 = fadd double %v206, %v207
  store double %v208, ptr %p205
  %i209 = mul nsw i64 %i6, 17
  %i210 = add nsw i64 %i209, %i186
  %p211 = getelementptr inbounds double, ptr %ptr0, i64 %i210
  %v212 = load double, ptr %p211
  %v213 = fmul double %v184, %v190
  %v214 = fadd double %v212, %v213
  store double %v214, ptr %p211
  %i215 = add nuw nsw i64 %i186, 1
  %c216 = icmp ult i64 %i215, 17
  br i1 %c216, label %loop185, label %after217
after217:
  %i218 = add nuw nsw i64 %i167, 1
  %c219 = icmp ult i64 %i218, 1
  br i1 %c219, label %loop166, label %after220, !llvm.loop !0
after220:
  %i221 = add nuw nsw i64 %i2, 1
  %c222 = icmp ult i64 %i221, 1
  br i1 %c222, label %loop1, label %after223, !llvm.loop !0
after223:
  ret void
}

define internal void @part0(ptr noalias %io0, ptr noalias %io1, ptr noalias %io2, ptr noalias %ws) noinline nounwind {
entry:
  call void @kernel0(ptr %io2, ptr %io0, ptr %io1)
  ret void
}
