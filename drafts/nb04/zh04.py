import json
p = "notebooks/zh/04_developing_a_deep_model.ipynb"
nb = json.load(open(p))
old = json.load(open("/tmp/nb0406/zh04.orig.ipynb"))

def lines(text):
    ls = text.split("\n")
    return [l + "\n" for l in ls[:-1]] + ([ls[-1]] if ls[-1] else [])

def oldsrc(i):
    return "".join(old["cells"][i]["source"])

def setc(i, text):
    assert nb["cells"][i]["cell_type"] == "markdown", i
    nb["cells"][i]["source"] = lines(text)

def rep(s, a, b):
    assert s.count(a) == 1, a[:60]
    return s.replace(a, b)

s0 = rep(oldsrc(0), "- 如何在一个*源任务*上从零开始预训练（pretraining）ResNet-50，缓存检查点（checkpoint），并观察它第一层的卷积核（kernel）和它的特征学到了什么。",
         "- 如何在一个*源任务*上从零开始预训练（pretraining）ResNet-50，所用的配方逐项写出并加以解释（AdamW、单周期学习率调度、标签平滑、从零开始的残差分支），缓存检查点（checkpoint），并观察它第一层的卷积核（kernel）和它的特征学到了什么。")
setc(0, s0)

s29 = rep(oldsrc(29), "一个先汇聚再接全连接层的输出头：21 个卷积 + `fc`——它们每次只有一个组成部分不同",
          "一个先汇聚再接全连接层的输出头：21 个卷积 + `fc`，由 `course_utils.depth_sweep` 中的 `DeepNet` 用第 2 节的残差块搭建（下面断言了两者相同）——它们每次只有一个组成部分不同")
setc(29, s29)

s32 = rep(oldsrc(32), "现在用相同的预算和相同的规则训练全部五个网络：",
          "现在用相同的预算和相同的规则训练全部五个网络。训练循环（`train_arm`，即笔记本 03 的循环配上 SGD）、扫描（`sweep_arms`）和表格都是放在 `course_utils.depth_sweep` 中的辅助代码，可以对照本笔记本阅读；它们执行的规则如下：")
setc(32, s32)

setc(40, """## 5 · 预训练我们自己的 ResNet-50

笔记本 05 微调的是一个*预训练*的 ResNet-50。在 Colab 上它可以下载 ImageNet 权重；这里不行，所以课程自己预训练一个：torchvision 的 `resnet50` 架构，原封不动，`weights=None`，26 个输出，用笔记本 03 的训练循环（`course_utils.training.fit`）在字母上从零开始训练。配方本身就是这一节要学的内容，所以下面把它逐项写出来，并检查它正是 `pretrain_source_model` 所运行的配方。

**数据。** 10,400 张生成的字母（每类 400 张），分辨率 32 像素，另有 1,040 张留出，用来测试准确率。训练时不做任何数据增强：每张图像本身就是它那个字母的一次随机变形（第 1 节列出的：字体、旋转、缩放、剪切、平移、笔画粗细、分辨率、颜色、噪声），所以 3 个迭代周期就是对 10,400 张各不相同的图像做 3 遍打乱顺序的遍历。批量大小 64，每个迭代周期由一个固定种子的生成器重新打乱，并设置 `drop_last=True`（第 2 节：`layer4` 的 1×1 特征图上不能出现只有一张图像的批量）：每个迭代周期 162 步，共 486 步。

**模型：`zero_init_residual=True`。** 每个瓶颈块最后一个 BatchNorm 的缩放系数从 0 开始，于是每个块的残差分支 $F(x)$ 一开始为 0，每个块把输入原样传下去（每个阶段的第一个块则经过它的投影）。正是这个起点让第 4 节的 residual + BN 网络通过了检查；它改变的是初始值，而不是架构。""")

setc(42, """**优化器、学习率调度和损失函数。**

- **AdamW**，学习率 0.002，权重衰减 0.05。Adam 为每个参数单独调整步长（笔记本 03），让同一个学习率能适用于梯度相差几个数量级的各层——50 层深、从随机起点出发；这么短的一次训练也没有预算去做第 4 节那样的扫描。AdamW 的*解耦*权重衰减每一步把每个权重直接缩小 `lr × 0.05`，与梯度的统计量无关（在普通 Adam 中，衰减会被这些统计量相除）。
- **单周期（one-cycle）学习率调度**，每个批量之后调用一次：在前四分之一的步数里，从峰值的 1/25 预热到峰值——刚开始时 Adam 的矩估计只基于少数几个批量，BatchNorm 的统计量也还在变化，这时迈大步有风险——然后按余弦退火到几乎为 0，让最后几步稳定下来，而不是在峰值学习率上来回跳动。
- **标签平滑 0.1**：目标分布在真实字母上为 $0.9 + 0.1/26$，在其他每个字母上为 $0.1/26$。一旦 softmax 与这个目标一致，损失就不再鼓励越来越大的对数几率：它可能达到的最小值是目标分布的熵，而不是 0（下面会算出来）。

库在训练时还把卷积的张量按通道在后（channels-last，NHWC）的方式存放：这是一种内存布局，不属于配方；本笔记本没有对它计时。""")

setc(44, """### 训练与缓存

`pretrain_source_model` 用上面的模型、上面的配方和那些数据加载器，通过 `fit` 进行训练。检查点缓存在 `data/cache/` 下（已被 git 忽略），连同它的配置、训练时使用的线程数以及训练历史一起保存，所以第二次调用——无论在这里还是在笔记本 05 中——都会加载它而不是重新训练，并返回相同的数字。用其他配置或其他线程数生成的检查点，或者损坏的检查点，都会被重新训练，绝不会被悄悄复用；每当需要训练时，它都会先打印原因和大约需要多长时间（在空闲的双核 CPU 上估计约 3 分钟）。""")

s54 = rep(oldsrc(54), "- **预训练**：`pretrain_source_model()` 在生成的字母上从零开始训练 torchvision 的 ResNet-50，把检查点连同配置和训练历史一起缓存，并能重新加载。",
          "- **预训练**：`pretrain_source_model()` 用第 5 节的配方——`zero_init_residual=True`、AdamW、单周期学习率调度、标签平滑 0.1——在生成的字母上从零开始训练 torchvision 的 ResNet-50（已断言它就是库中的配方：相同的初始权重、相同的一步更新、相同的学习率，也与缓存的那次运行记录的学习率一致），把检查点连同配置和训练历史一起缓存，并能重新加载。")
setc(57, s54)

s61 = rep(oldsrc(61), "`first_loss(lambda: DeepNet(residual=True, batchnorm=True, blocks=40), seed=0)`",
          "`first_loss(lambda: DeepNet(residual=True, batchnorm=True, blocks=40), seed=0, train_set=small_train)`")
setc(64, s61)
json.dump(nb, open(p, "w"), indent=1, ensure_ascii=False)
open(p, "a").write("\n")
