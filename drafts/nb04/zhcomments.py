import json, sys
T04 = {
 "# DeepNet (course_utils.depth_sweep): stem conv -> 10 two-conv blocks (plain, or section 2's\n# ResidualBlock) -> pool -> fc. The library's residual block computes what section 2's does:":
 "# DeepNet（course_utils.depth_sweep）：起始卷积 -> 10 个双卷积块（普通块，或第 2 节的\n# ResidualBlock）-> 汇聚 -> fc。库中的残差块与第 2 节的残差块计算结果相同：",
 "# 500 images at their own 8x8": "# 500 张图像，保持原本的 8x8",
 "# a log axis has no 0": "# 对数坐标轴上没有 0",
 "# networks this small: one thread is faster, and fixes the numbers": "# 这么小的网络：一个线程更快，而且结果的数值固定",
 "# residual + BN, PyTorch's defaults": "# residual + BN，PyTorch 的默认设置",
 "# the five 22-layer networks; then the simple baseline every comparison needs:": "# 五个 22 层网络；然后是每个比较都需要的简单基线：",
 "# the rule above, for every arm: seed-0 sweep over LRS, then the 3 seeds at the chosen rate": "# 对每一组执行上面的规则：先在种子 0 上扫描 LRS，再在选定的学习率上跑 3 个种子",
 "# runs[name] = (lr, [(losses, test accuracy) per seed])": "# runs[name] = (lr, [每个种子的 (损失, 测试准确率)])",
 "# The sweep's runs of 200 SGD steps: the last digits differ between CPUs and thread counts; asserted below.": "# 扫描中每次 200 步 SGD 的运行：最后几位数字随 CPU 和线程数而变；下面用断言检查。",
 "# per network: lr, and (mean, std over seeds) of first/last loss, accuracy": "# 每个网络：学习率，以及第一个/最后的损失和准确率的（均值，种子间标准差）",
 "# where pretrain_source_model starts": "# pretrain_source_model 的起点",
 "# stepped after every batch": "# 每个批量之后调用一次",
 "# warm-up over the first quarter of the steps": "# 在前四分之一的步数里预热",
 "# drop_last: 162 full batches": "# drop_last：162 个完整的批量",
 "# The library's recipe is this one: one training step of section 2's small CNN (26 outputs) from the\n# same state gives the same weights with each, bit for bit, and the same learning rate at every step.":
 "# 库中的配方就是这一个：从同一状态出发，用两者各对第 2 节的小型 CNN（26 个输出）训练一步，\n# 得到逐比特相同的权重，而且每一步的学习率都相同。",
 "# the rate this step uses": "# 这一步使用的学习率",
 "# the step did move the weights": "# 这一步确实改变了权重",
 "# the target of an image of class 0": "# 类别 0 的一张图像的目标分布",
 "# its entropy": "# 它的熵",
 "# the cached run followed the schedule above, and label smoothing's floor": "# 缓存的那次运行遵循了上面的调度，也高于标签平滑的下限",
}
T06 = {
 "# peak bf16 FLOP/s of one NVIDIA A100": "# 一块 NVIDIA A100 的 bf16 峰值算力（FLOP/s）",
 "# A timing: it depends on the machine and on what else runs on it.": "# 计时：结果取决于机器，以及机器上同时还在运行什么。",
 "# warm-up": "# 预热",
 "# a (n x n) @ (n x n) matmul: 2 n^3 FLOPs": "# 一次 (n x n) @ (n x n) 矩阵乘法：2 n^3 次浮点运算",
 "# bfloat16 autocast exists for both": "# 两种设备都支持 bfloat16 的 autocast",
 "# r = 8 on the q and v projections of the 32 layers": "# 在 32 层的 q 和 v 投影上用 r = 8",
}
for path, table in (("notebooks/zh/04_developing_a_deep_model.ipynb", T04), ("notebooks/zh/06_large_models.ipynb", T06)):
    nb = json.load(open(path))
    used = set()
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        s = "".join(c["source"])
        for en, zh in table.items():
            if en in s:
                s = s.replace(en, zh); used.add(en)
        ls = s.split("\n")
        c["source"] = [l + "\n" for l in ls[:-1]] + ([ls[-1]] if ls[-1] else [])
    missing = set(table) - used
    assert not missing, missing
    json.dump(nb, open(path, "w"), indent=1, ensure_ascii=False)
    open(path, "a").write("\n")
print("ok")
