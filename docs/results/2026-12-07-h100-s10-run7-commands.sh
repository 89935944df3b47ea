#!/usr/bin/env bash
# Session 10 run 7 (2026-12-07): the norm matrix's longest rows (40000 and 65536 features, several chunks) on CUDA with
# the final kernels (interleaved row blocks, the column pass two blocks a step), which run 4's 115 s did not reach.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
timeout 200 /tmp/new/TinyFlash.Bench verify --norm --backend cuda --filter "x40000,|x65536," > $r/verify-norm-cuda-long.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda-long.txt
tar czf $top/all.tgz -C $r .
