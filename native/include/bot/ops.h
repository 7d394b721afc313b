// Every op of the CPU core. Each op's contract (shapes, layouts, formulas) is in its header.
#pragma once
#include "bot/ops/batchnorm.h"
#include "bot/ops/conv2d.h"
#include "bot/ops/convert.h"
#include "bot/ops/cross_entropy.h"
#include "bot/ops/elementwise.h"
#include "bot/ops/gemm.h"
#include "bot/ops/linear.h"
#include "bot/ops/mixup.h"
#include "bot/ops/pool2d.h"
#include "bot/ops/sgd.h"
