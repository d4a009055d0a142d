"""The sentences the notebooks print, in the learner's language: :func:`say` is to ``print`` what
:func:`course_utils.i18n.figure_text` is to a figure's labels.

    print(say("{name}: equal within {atol:g}", name=name, atol=1e-6))

:data:`ZH` is a message table of the package's one shape (:mod:`course_utils.i18n`): English template
-> Chinese template, the same ``{fields}``. In English :func:`say` formats the template itself; in
Chinese (:func:`course_utils.i18n.language` is ``"zh"``) its entry in :data:`ZH`. A template without
a Chinese entry raises in Chinese instead of printing English (``tests/test_printed.py`` finds every
template the notebooks use and checks its entry).

Values are printed as given: numbers, code names and tables of figures stay as they are. An English
word that is prose, not code (a verdict such as ``"beats"``, an arm name such as ``"head only"``),
goes through :func:`term`, from :data:`WORDS`; the code keeps comparing the English word. A value
that is a :class:`~course_utils.losses.SanityProblem` (why a run failed notebook 02's check) is shown
from its :data:`PROBLEMS` entry, the run's name as given.
"""

from __future__ import annotations

from course_utils.i18n import Text, message, translate

__all__ = ["say", "term"]

#: English template -> Chinese template (the same ``{fields}``), grouped by notebook.
ZH: dict[str, str] = {
    # notebook 00
    "same seed, identical bits:      {same}": "相同的随机种子，结果逐位相同：{same}",
    "other seed, largest difference: {diff}": "换一个随机种子，最大差异：{diff}",
    # notebook 01
    "weight layers in the model: {names}": "模型中的权重层：{names}",
    "{name:<10} reads ({inputs:<18}) weight layer: {weighted:<3}  longest path so far: {longest}":
        "{name:<10} 读取 ({inputs:<18}) 权重层：{weighted:<3}  目前的最长路径：{longest}",
    "depth by hand: {by_hand}   depth(): {computed}   weight layers: {n}":
        "手算的深度：{by_hand}   depth()：{computed}   权重层：{n}",
    "Conv2d modules: {convs}  Linear modules: {linears}  projection shortcuts: {shortcuts}":
        "Conv2d 模块：{convs}  Linear 模块：{linears}  投影捷径：{shortcuts}",
    "blocks per stage: {blocks}  ->  1 + {n}·3 + 1 = {by_hand}":
        "每个阶段的块数：{blocks}  ->  1 + {n}·3 + 1 = {by_hand}",
    "depth of layer1[0]: {depth} (it holds 4 convolutions)": "layer1[0] 的深度：{depth}（它含有 4 个卷积层）",
    "{label:<46} by hand {by_hand:>9,}  expected_parameters {formula:>9,}  numel {numel:>9,}":
        "{label:<46} 手算 {by_hand:>9,}  expected_parameters {formula:>9,}  numel {numel:>9,}",
    "3x3 conv on a {size}x{size} image: {n:,} parameters, output {shape}":
        "{size}x{size} 图像上的 3x3 卷积：{n:,} 个参数，输出 {shape}",
    "depthwise + pointwise: {separable:,} parameters, {ratio:.2f}x fewer than a full 3x3 conv ({full:,})":
        "逐通道 + 逐点：{separable:,} 个参数，比完整的 3x3 卷积（{full:,}）少 {ratio:.2f} 倍",
    "parameters: {shapes}": "参数：{shapes}",
    "buffers:    {shapes}": "缓冲区：{shapes}",
    "values in state_dict: {n} = 2·64 parameters + 2·64 running statistics + 1 counter":
        "state_dict 中的数值：{n} = 2·64 个参数 + 2·64 个滑动统计量 + 1 个计数器",
    "PyTorch's second bias vector adds {extra:,} parameters ({one_layer:,} vs {textbook:,})":
        "PyTorch 的第二个偏置向量多出 {extra:,} 个参数（{one_layer:,} 对 {textbook:,}）",
    "the width ({width}) must be a multiple of the number of heads ({heads})":
        "宽度（{width}）必须是头数（{heads}）的倍数",
    "{n} rows; keys: {keys}": "{n} 行；键：{keys}",
    "by hand: {by_hand:,}   count_parameters: {counted:,}": "手算：{by_hand:,}   count_parameters：{counted:,}",
    "causal mask (0 = may attend, -inf = may not):\n {mask}": "因果掩码（0 = 可以关注，-inf = 不可以）：\n {mask}",
    "outputs at positions 1-4 moved by: {causal:.4f} with the causal mask (GPT), {full:.4f} without it (BERT)":
        "位置 1-4 的输出变化：有因果掩码（GPT）时 {causal:.4f}，没有它（BERT）时 {full:.4f}",
    "output: {shape} on {device}": "输出：{shape}，位于 {device}",
    "values in state_dict:    {naive:,}  (lm_head.weight is wte.weight: {tied})":
        "state_dict 中的数值：{naive:,}  （lm_head.weight is wte.weight：{tied}）",
    "difference:              {difference:,} = 50257 · 768": "差：{difference:,} = 50257 · 768",
    "by hand: {by_hand:,}": "手算：{by_hand:,}",
    "depth, counting each Transformer layer as one: {depth}": "把每个 Transformer 层算作一层时的深度：{depth}",
    "total {total:,}  trainable {trainable:,}  frozen {frozen:,}  ({share:.3%} trainable); in the optimizer: "
    "{in_optimizer:,}":
        "总计 {total:,}  可训练 {trainable:,}  冻结 {frozen:,}  （{share:.3%} 可训练）；优化器中：{in_optimizer:,}",
    "train(): running mean moved by up to {drift:.4f}   eval(): moved by {still:.4f}":
        "train()：滑动均值最多变化 {drift:.4f}   eval()：变化 {still:.4f}",
    # notebook 02
    "{name}: equal within {atol:g}": "{name}：在 {atol:g} 以内相等",
    "each row sums to": "每一行的和为",
    "one-hot targets:\n": "独热编码的目标：\n",
    "per-example loss, one-hot form:": "每个样本的损失，独热形式：",
    "per-example loss, index form:  ": "每个样本的损失，索引形式：  ",
    "batch loss (mean): {loss:.4f}": "批量的损失（均值）：{loss:.4f}",
    "by hand {by_hand:.4f} | course_utils {ours:.4f} | PyTorch {theirs:.4f}":
        "手算 {by_hand:.4f} | course_utils {ours:.4f} | PyTorch {theirs:.4f}",
    "logits in (correct):       loss = {loss:.4f}": "输入 logits（正确）：  损失 = {loss:.4f}",
    "probabilities in (the bug): loss = {loss:.4f}": "输入概率（错误）：      损失 = {loss:.4f}",
    "the floor ln(1 + (C-1)/e) = {floor:.4f}": "下限 ln(1 + (C-1)/e) = {floor:.4f}",
    "naive softmax:": "朴素的 softmax：",
    "naive loss for class 0:": "类别 0 的朴素损失：",
    "float32 holds up to {largest:.4g}: exp(88.7) = {below:.4g}, exp(88.8) = {above}":
        "float32 最大能表示 {largest:.4g}：exp(88.7) = {below:.4g}，exp(88.8) = {above}",
    "stable log-softmax:": "数值稳定的 log-softmax：",
    "stable loss for class 0: {loss:.6f}": "类别 0 的数值稳定损失：{loss:.6f}",
    "naive:": "朴素算法：",
    "stable: {loss:.6f}": "稳定算法：{loss:.6f}",
    "loss of uniform predictions: {loss:.6f}": "均匀预测的损失：{loss:.6f}",
    "a fresh network's first loss: {loss:.3f}  (close to ln C, as it should be)":
        "新网络的第一个损失：{loss:.3f}  （接近 ln C，理应如此）",
    "the same, with a wrong label mapping: {loss:.3f}  (also close to ln C)":
        "同一网络，标签映射错误：{loss:.3f}  （同样接近 ln C）",
    "the same, inputs 255x too large: {loss:.1f}  (far above ln C)":
        "同一网络，输入大了 255 倍：{loss:.1f}  （远高于 ln C）",
    "{name}: passed (mean loss of each quarter: {quarters})": "{name}：通过（每四分之一段的平均损失：{quarters}）",
    "fails: {problem}": "未通过：{problem}",
    "p(true class) = {p_true:.2f}, each of the {others} others = {p_other:.3f}":
        "p(真实类别) = {p_true:.2f}，其余 {others} 个类别各为 {p_other:.3f}",
    "loss            -ln p      = {loss:.4f}   (chance: ln C = {chance:.4f})":
        "损失            -ln p      = {loss:.4f}   （随机猜测：ln C = {chance:.4f}）",
    "dL/dz_true       p - 1     = {grad:+.4f}   (pushes the true logit up)":
        "dL/dz_true       p - 1     = {grad:+.4f}   （把真实类别的 logit 往上推）",
    "dL/dz_other      p_other   = {grad:+.4f}   (pushes each other logit down)":
        "dL/dz_other      p_other   = {grad:+.4f}   （把其他每个 logit 往下压）",
    "z = 50, y = 0: with logits {with_logits:.4f}, from probabilities {from_probs:.4f}":
        "z = 50，y = 0：由 logits 算 {with_logits:.4f}，由概率算 {from_probs:.4f}",
    "in float32, sigmoid(z) rounds to exactly 1 from z = {z}": "在 float32 中，从 z = {z} 起 sigmoid(z) 恰好舍入为 1",
    "autograd gradient (first row):": "自动微分的梯度（第一行）：",
    "softmax(z) - y, / N (first row):": "softmax(z) - y，/ N（第一行）：",
    "each row of the gradient sums to 0:": "梯度的每一行之和为 0：",
    "per-example losses:": "每个样本的损失：",
    "weighted mean = {weighted:.6f} (unweighted {unweighted:.6f})":
        "加权均值 = {weighted:.6f}（不加权 {unweighted:.6f}）",
    "mean over {n} labelled examples = {mean:.6f}": "{n} 个有标签样本的均值 = {mean:.6f}",
    "smoothed target of example 0:": "样本 0 的平滑目标：",
    "smoothed loss = {loss:.6f}": "平滑后的损失 = {loss:.6f}",
    "{what}:\n  ValueError: {error}": "{what}：\n  ValueError: {error}",
    # notebook 03
    "step {step}: loss {loss:.4f}": "第 {step} 步：损失 {loss:.4f}",
    "by hand, PlainSGD, course_utils SGD and torch.optim.SGD: equal after each of 10 steps":
        "手算、PlainSGD、course_utils 的 SGD 与 torch.optim.SGD：10 步中的每一步之后都相等",
    "final loss: {loss:.4f}": "最终损失：{loss:.4f}",
    "d L / d {name}: index loops == matrix form == autograd, largest difference {diff:.1e}":
        "d L / d {name}：下标循环 == 矩阵形式 == 自动微分，最大差异 {diff:.1e}",
    "d loss / d {name} {shape:<7} by hand == autograd, largest difference {diff:.1e}":
        "d loss / d {name} {shape:<7} 手算 == 自动微分，最大差异 {diff:.1e}",
    "second backward(): {error} - the graph was freed after the first one":
        "第二次 backward()：{error} - 计算图在第一次之后已被释放",
    "two half-batch backward passes, accumulated == one full-batch backward: True":
        "两次半批量的反向传播累加起来 == 一次全批量的反向传播：True",
    "lr = {lr:<5} {verdict:<10} loss after 30 steps: {loss:.4g}":
        "lr = {lr:<5} {verdict:<10} 30 步后的损失：{loss:.4g}",
    "{options:<58} {loss:>10.4f}   all three equal": "{options:<58} {loss:>10.4f}   三者相等",
    "lr = 0.02, momentum = {momentum}: after 30 steps w1 = {w1:6.3f} (start -4, bottom 0), loss {loss:.4g}":
        "lr = 0.02，momentum = {momentum}：30 步后 w1 = {w1:6.3f}（起点 -4，谷底 0），损失 {loss:.4g}",
    "lr = {lr:.3f}, momentum = {momentum:.2f}: loss after 30 steps = {loss:.4g} ({state})":
        "lr = {lr:.3f}，momentum = {momentum:.2f}：30 步后的损失 = {loss:.4g}（{state}）",
    "{options:<32} final loss {loss:.4f}; equal to torch.optim.AdamW at each of 20 steps":
        "{options:<32} 最终损失 {loss:.4f}；20 步中的每一步都与 torch.optim.AdamW 相等",
    "AdamW keeps per parameter: {names} (SGD with momentum: momentum_buffer only)":
        "AdamW 为每个参数保存：{names}（带动量的 SGD：只有 momentum_buffer）",
    "loss x {scale:<4}  first step of SGD: {sgd}   of AdamW: {adamw}":
        "损失 x {scale:<4}  SGD 的第一步：{sgd}   AdamW 的第一步：{adamw}",
    "train {train}, validation {val}, test {test} images of 8x8 pixels":
        "训练 {train} 张，验证 {val} 张，测试 {test} 张 8x8 像素的图像",
    "{epochs} epochs x {steps} batches; lr at the start {start:.3f}, half-way {middle:.3f}, last step {last:.5f}":
        "{epochs} 个迭代周期 x {steps} 个批量；学习率开始时 {start:.3f}，一半时 {middle:.3f}，最后一步 {last:.5f}",
    "by hand:         mean training loss {loss:.4f}": "手算：           平均训练损失 {loss:.4f}",
    "train_one_epoch: mean training loss {loss:.4f}, accuracy {acc:.3f}":
        "train_one_epoch：平均训练损失 {loss:.4f}，准确率 {acc:.3f}",
    "largest weight difference: {diff}": "权重的最大差异：{diff}",
    "after 3 backward passes without zero_grad, grad / first grad: min {low:.3f}, max {high:.3f}":
        "不调用 zero_grad 做 3 次反向传播后，梯度 / 第一次的梯度：最小 {low:.3f}，最大 {high:.3f}",
    "mean training loss per epoch:": "每个迭代周期的平均训练损失：",
    "wrong way, call 1: accuracy {acc:.3f}": "错误做法，第 1 次调用：准确率 {acc:.3f}",
    "wrong way, call 2: accuracy {acc:.3f}": "错误做法，第 2 次调用：准确率 {acc:.3f}",
    "BatchNorm running mean changed by evaluation: {changed}": "评估改变了 BatchNorm 的滑动均值：{changed}",
    "a graph was built: {built}": "构建了计算图：{built}",
    "evaluate(), call 1: accuracy {acc:.3f}": "evaluate()，第 1 次调用：准确率 {acc:.3f}",
    "evaluate(), call 2: accuracy {acc:.3f}": "evaluate()，第 2 次调用：准确率 {acc:.3f}",
    "BatchNorm running mean changed by evaluate(): {changed}": "evaluate() 改变了 BatchNorm 的滑动均值：{changed}",
    "accuracy on the 60 training images:      {acc:.3f} (loss {loss:.3f})":
        "60 张训练图像上的准确率：      {acc:.3f}（损失 {loss:.3f}）",
    "accuracy on {n} unseen validation images: {acc:.3f} (loss {loss:.3f})":
        "{n} 张没见过的验证图像上的准确率：{acc:.3f}（损失 {loss:.3f}）",
    "final training loss {loss:.3f} = {share:.1%} of the chance level ln 10 = {chance:.3f}":
        "最终训练损失 {loss:.3f} = 随机猜测水平 ln 10 = {chance:.3f} 的 {share:.1%}",
    "test accuracy: {acc:.3f} on {n} images never used for training or tuning":
        "测试准确率：{acc:.3f}，在 {n} 张从未用于训练或调参的图像上",
    "the checkpoint holds: {keys} | epochs done: {epoch}": "检查点包含：{keys} | 已完成的迭代周期：{epoch}",
    "resumed run: {epochs} epochs in its history, final val acc {acc:.3f}":
        "恢复后的运行：历史中有 {epochs} 个迭代周期，最终验证准确率 {acc:.3f}",
    "largest weight difference from the uninterrupted run: {diff}": "与未中断运行的最大权重差异：{diff}",
    # notebook 04
    "no target class is a source class: {glyphs} {digits}": "没有一个目标类别是源类别：{glyphs} {digits}",
    "one image: {shape} {dtype} label {label} = {name}": "一张图像：{shape} {dtype} 标签 {label} = {name}",
    "pixel range after normalization: [{low:.2f}, {high:.2f}]": "规范化后的像素范围：[{low:.2f}, {high:.2f}]",
    "cross-entropy by hand {by_hand:.4f} = PyTorch {theirs:.4f}, max difference {diff:.1e}":
        "手算的交叉熵 {by_hand:.4f} = PyTorch {theirs:.4f}，最大差异 {diff:.1e}",
    "parameters: formula {formula:,} = counted {counted:,}": "参数：公式 {formula:,} = 计数 {counted:,}",
    "residual block: {before} -> {after}": "残差块：{before} -> {after}",
    "with F = 0 the block passes its input through: OK": "F = 0 时残差块原样传出输入：OK",
    "ResNet-50 parameters: formula {formula:,} = counted {counted:,} = published 25,557,032":
        "ResNet-50 的参数：公式 {formula:,} = 计数 {counted:,} = 公布值 25,557,032",
    "conv layers: {convs} (of which 4 are 1x1 projections) -> depth {body} + fc = {depth}":
        "卷积层：{convs}（其中 4 个是 1x1 投影）-> 深度 {body} + fc = {depth}",
    "the same network with 26 outputs: {n:,} parameters": "同一网络改为 26 个输出：{n:,} 个参数",
    "gain for ReLU: {gain} = sqrt(2)": "ReLU 的增益：{gain} = sqrt(2)",
    "{name:<22} factor per layer: measured {measured:.3f}, predicted {predicted:.3f}":
        "{name:<22} 每层的倍数：实测 {measured:.3f}，预测 {predicted:.3f}",
    "std = {scale:.2f} x sqrt(2/n): last activation std {act:.2e}, first-layer gradient std {grad:.2e}":
        "std = {scale:.2f} x sqrt(2/n)：最后一层激活值标准差 {act:.2e}，第一层梯度标准差 {grad:.2e}",
    "{name:<13} distinct units in layer 1 after training: {distinct:>2} of 16, accuracy {accuracy:.2f}":
        "{name:<13} 训练后第 1 层中互不相同的单元：16 个中的 {distinct:>2} 个，准确率 {accuracy:.2f}",
    "default conv weight std {std:.4f}   formula 1/sqrt(3n) = {formula:.4f}":
        "默认卷积权重的标准差 {std:.4f}   公式 1/sqrt(3n) = {formula:.4f}",
    "factor per ReLU layer sqrt(n sigma^2 / 2) = {factor:.3f}; over 20 layers {total:.1e}":
        "每个 ReLU 层的倍数 sqrt(n sigma^2 / 2) = {factor:.3f}；20 层累计 {total:.1e}",
    "{name:<20} gradient norm, conv 1: {conv1:.2e}  fc: {fc:.2e}  ratio {ratio:.1e}":
        "{name:<20} 梯度范数，第 1 个卷积层：{conv1:.2e}  fc：{fc:.2e}  比值 {ratio:.1e}",
    "that run: test accuracy {accuracy:.2f}, but assert_sane says: {verdict}":
        "这次运行：测试准确率 {accuracy:.2f}，但 assert_sane 说：{verdict}",
    "assert_sane accepts {low:.2f} to {high:.2f} (ln 10 = {chance:.2f})":
        "assert_sane 接受 {low:.2f} 到 {high:.2f}（ln 10 = {chance:.2f}）",
    "residual + BN, {label:<19} first loss of seeds 0-2: {losses}":
        "残差 + BN，{label:<19} 随机种子 0-2 的第一个损失：{losses}",
    "all {n} chosen runs pass notebook 02's check: first loss {low:.2f} to {high:.2f} (ln 10 = {chance:.2f}), no "
    "quarter of a run above 1.5 ln 10, every last quarter below its first loss":
        "选中的 {n} 次运行全部通过笔记本 02 的检查：第一个损失在 {low:.2f} 到 {high:.2f} 之间（ln 10 = {chance:.2f}）"
        "，没有哪次运行的任何四分之一段高于 1.5 ln 10，每次运行的最后四分之一段都低于它的第一个损失",
    "{a:<20} {verdict:<19} {b:<20} (gap {gap:+.3f}, twice the spread {noise:.3f})":
        "{a:<20} {verdict:<19} {b:<20}（差距 {gap:+.3f}，两倍标准差 {noise:.3f}）",
    "checkpoint file: {name}": "检查点文件：{name}",
    "{n} bottleneck blocks, the scale of each one's last BatchNorm starts at 0":
        "{n} 个瓶颈块，每个块最后一个 BatchNorm 的缩放系数从 0 开始",
    "the same initial weights as the library's build_source_model(config): True":
        "与库函数 build_source_model(config) 的初始权重相同：True",
    "one step with each recipe: the same weights, bit for bit; the same rate at all {n} steps":
        "两种配方各走一步：权重逐位相同；全部 {n} 步的学习率都相同",
    "learning rate: {first:.1e} at step 0, peak {top:.1e} at step {peak}, {last:.1e} at the last step":
        "学习率：第 0 步 {first:.1e}，第 {peak} 步达到峰值 {top:.1e}，最后一步 {last:.1e}",
    "label smoothing {eps}: target {true:.4f} on the true class, {other:.4f} on each other; lowest possible loss "
    "{lowest:.3f}, reached when the softmax equals the target":
        "标签平滑 {eps}：真实类别的目标为 {true:.4f}，其他每个类别为 {other:.4f}；最低可能的损失为 {lowest:.3f}，在 s"
        "oftmax 等于目标时达到",
    "source test accuracy {acc:.3f}; training took {minutes:.1f} min":
        "源任务测试准确率 {acc:.3f}；训练用时 {minutes:.1f} 分钟",
    "epoch {epoch}: lr at its start {lr:.1e}  train loss {train_loss:.3f}  train acc {train_acc:.3f}  test acc "
    "{val_acc:.3f}  ({seconds:.0f} s)":
        "第 {epoch} 个迭代周期：开始时学习率 {lr:.1e}  训练损失 {train_loss:.3f}  训练准确率 {train_acc:.3f}  测试准"
        "确率 {val_acc:.3f}  （{seconds:.0f} 秒）",
    "held-out source accuracy at least 90% (chance: {chance:.1%}): {ok}":
        "留出的源任务准确率至少 90%（随机猜测：{chance:.1%}）：{ok}",
    "the cached run's rate at the start of each epoch is the schedule's at steps 0, {one}, {two}: True":
        "缓存的运行在每个迭代周期开始时的学习率，就是调度在第 0、{one}、{two} 步的学习率：True",
    "second call loaded the cache: same weights, same history": "第二次调用加载了缓存：权重相同，历史相同",
    "1-nearest-neighbour accuracy on test letters: pixels {pixels:.2f}, ResNet-50 features {features:.2f}":
        "测试字母上的 1-最近邻准确率：像素 {pixels:.2f}，ResNet-50 特征 {features:.2f}",
    # notebook 05
    "new head: {head:,} parameters; whole model: {total:,}": "新的分类头：{head:,} 个参数；整个模型：{total:,}",
    "No ImageNet weights here (offline): same architecture, random weights, for the shapes.":
        "这里没有 ImageNet 权重（离线）：用相同的架构和随机权重，只看形状。",
    "ImageNet weights loaded": "已加载 ImageNet 权重",
    "source task: {n} letters, held-out accuracy {acc:.2f}": "源任务：{n} 个字母，留出集准确率 {acc:.2f}",
    "train {train}, test {test}; image {shape}": "训练 {train}，测试 {test}；图像 {shape}",
    "digit {digit} -> letter {letter} ({share:.0%} of them)": "数字 {digit} -> 字母 {letter}（占 {share:.0%}）",
    "FAQ 1: does the pretrained body pay? The best transfer arm against the best trained from scratch, 5 labels per "
    "class:":
        "FAQ 1：预训练的主体值得用吗？最好的迁移实验组对比最好的从零训练实验组，每类 5 个标签：",
    "FAQ 2: which layers? The probe on each stage of the frozen source model (fc: the pooled layer4 output, raw):":
        "FAQ 2：用哪些层？在冻结的源模型的每个阶段上做探测（fc：layer4 汇聚后的原始输出）：",
    "  {target}, {budget:>12}: {t} {acc_t:.3f} {verdict} {b} {acc_b:.3f} ({gap:+.1f} points, 2 x std {noise:.1f})":
        "  {target}，{budget:>12}：{t} {acc_t:.3f} {verdict} {b} {acc_b:.3f}（{gap:+.1f} 个百分点，2 x 标准差 {noise:"
        ".1f}）",
    "  {target}, {k:>2}/class: best {arm} {acc:.3f}": "  {target}，每类 {k:>2} 个：最好的是 {arm} {acc:.3f}",
    ", no difference from {ties}": "，与 {ties} 无差异",
    ", ahead of every other stage": "，领先其他所有阶段",
    "{n} trainable tensors, from {first} to {last}": "{n} 个可训练张量，从 {first} 到 {last}",
    "trainable parameters: {trainable:,} of {total:,}": "可训练参数：{total:,} 个中的 {trainable:,} 个",
    "discriminative groups (with layer4 + fc trainable): {groups}":
        "分层学习率的参数组（layer4 + fc 可训练时）：{groups}",
    "features {shape}; max head difference naive vs cached: {diff:.1e}":
        "特征 {shape}；直接计算与缓存特征的分类头最大差异：{diff:.1e}",
    "inputs per arm: {shapes}": "每个实验组的输入：{shapes}",
    "{arm:>13}: first loss {first_loss:.2f} (ln 10 = 2.30), by quarter {curve}; test accuracy {first_acc:.2f} before "
    "training, {acc:.2f} after (grid, 3 seeds: {mean:.2f} ± {std:.2f})":
        "{arm:>13}：第一个损失 {first_loss:.2f}（ln 10 = 2.30），各四分之一段 {curve}；测试准确率训练前 {first_acc:.2"
        "f}，训练后 {acc:.2f}（网格，3 个随机种子：{mean:.2f} ± {std:.2f}）",
    "{group:>6}: {n:>3} tensors, {weights:>10,} weights, lr {lr:.2g}":
        "{group:>6}：{n:>3} 个张量，{weights:>10,} 个权重，学习率 {lr:.2g}",
    "10 digits per class, seed 0; validation accuracy after each epoch; test accuracy against the grid:":
        "每类 10 个数字，随机种子 0；每个迭代周期后的验证准确率；测试准确率与网格对照：",
    "{arm:>19}: first loss {first_loss:.2f} (ln 10 = 2.30); validation {curve}; test {acc:.3f}":
        "{arm:>19}：第一个损失 {first_loss:.2f}（ln 10 = 2.30）；验证 {curve}；测试 {acc:.3f}",
    " (grid, 3 seeds: {mean:.3f} ± {std:.3f})": "（网格，3 个随机种子：{mean:.3f} ± {std:.3f}）",
    " (not a grid arm: one seed, not swept)": "（不是网格中的实验组：一个随机种子，未做扫描）",
    "{target}, lr {lr:g}: {k}/class seed {seed}, {problem}":
        "{target}，lr {lr:g}：每类 {k} 个、随机种子 {seed}，{problem}",
    "learning-rate sweeps (validation accuracy, * = chosen, x = failed the sanity check):":
        "学习率扫描（验证准确率，* = 选中，x = 未通过合理性检查）：",
    "\nchosen at an edge of its sweep, where a wider sweep might do better: {arms}":
        "\n选在扫描边缘、更宽的扫描也许会更好的：{arms}",
    "{target}, {k}/class, {budget}: best transfer arm {best}":
        "{target}，每类 {k} 个，{budget}：最好的迁移实验组 {best}",
    "    {verdict:>18} {base:<21} gap {gap:+5.1f} points (2 x std: {noise:.1f})":
        "    {verdict:>18} {base:<21} 差距 {gap:+5.1f} 个百分点（2 x 标准差：{noise:.1f}）",
    "all {n} runs sane (first loss within ±50% of ln 10 = {chance:.2f}); test accuracy before training {low:.2f} to "
    "{high:.2f} (chance: 0.10)":
        "全部 {n} 次运行都合理（第一个损失在 ln 10 = {chance:.2f} 的 ±50% 以内）；训练前的测试准确率 {low:.2f} 到 {hi"
        "gh:.2f}（随机猜测：0.10）",
    "{a} {acc_a:.3f} {verdict} {b} {acc_b:.3f} ({gap:+.1f} points, 2 x std {noise:.1f})":
        "{a} {acc_a:.3f} {verdict} {b} {acc_b:.3f}（{gap:+.1f} 个百分点，2 x 标准差 {noise:.1f}）",
    "\n- Far digits, which stage: the layer3 probe against the best arm that goes through layer4":
        "\n- 远目标数字，哪个阶段：layer3 的探测对比经过 layer4 的最好实验组",
    "- Near glyphs, which stage, 16x the steps: the last stage (probe-fc-long) against layer3":
        "- 近目标字形，哪个阶段，16 倍步数：最后一个阶段（probe-fc-long）对比 layer3",
    "- Training every layer, 50 labels per class, 16x the steps, against the layer3 probe":
        "- 训练所有层，每类 50 个标签，16 倍步数，对比 layer3 的探测",
    "- Far digits, the strongest baseline trained to convergence against the cut network":
        "- 远目标数字，训练到收敛的最强基线对比截断的网络",
    "- Near glyphs, the weakest of the four FAQ-2 arms against the best baseline on the same budget":
        "- 近目标字形，FAQ 2 的四个实验组中最弱的一个对比相同预算下最好的基线",
    "- ... and with 5 labels per class: ": "- ……每类 5 个标签时：",
    "in front of every -aug arm: {layer}; each of 50 images seen {views:.0f} times in {steps} steps":
        "每个 -aug 实验组的最前面：{layer}；{steps} 步中 50 张图像每张被看到 {views:.0f} 次",
    "what augmentation changed on the digits: each -aug arm minus its -long arm, in points (2 x std)":
        "数据增强在数字上带来的变化：每个 -aug 实验组减去对应的 -long 实验组，单位为百分点（2 x 标准差）",
    "mlp-aug, 50/class: last-quarter loss {low:.2f} to {high:.2f}":
        "mlp-aug，每类 50 个：最后四分之一段的损失 {low:.2f} 到 {high:.2f}",
    "\nthe best transfer arm with augmentation, {arm}, against every baseline, under every rule:":
        "\n带数据增强的最好迁移实验组 {arm}，对比每一条规则下的每一个基线：",
    "  {k:>2}/class: {arm} {mean:.3f} ± {std:.3f}; the strongest baseline, {base}, {base_mean:.3f} ± {base_std:.3f}: "
    "{verdict} it ({gap:+.1f} points, 2 x std {noise:.1f}); beats all {n} baselines: {all_beaten}":
        "  每类 {k:>2} 个：{arm} {mean:.3f} ± {std:.3f}；最强的基线 {base} {base_mean:.3f} ± {base_std:.3f}：{verdict"
        "}它（{gap:+.1f} 个百分点，2 x 标准差 {noise:.1f}）；优于全部 {n} 个基线：{all_beaten}",
    "running mean after one batch, by hand vs BatchNorm: max difference {diff:.1e}":
        "一个批量之后的滑动均值，手算 vs BatchNorm：最大差异 {diff:.1e}",
    "requires_grad_(False): letters accuracy {before:.2f} -> {after:.2f}; bn1 running mean moved by up to {moved:.3f}":
        "requires_grad_(False)：字母准确率 {before:.2f} -> {after:.2f}；bn1 的滑动均值最多变化 {moved:.3f}",
    "freeze(model, []):     letters accuracy {before:.2f} -> {after:.2f}; bn1 running mean moved by up to {moved:.3f}":
        "freeze(model, [])：    字母准确率 {before:.2f} -> {after:.2f}；bn1 的滑动均值最多变化 {moved:.3f}",
    "{layer3} in layer3; {layer4} in layer4 (auto_model: freeze(..., ['layer4', 'fc']) above)":
        "layer3 中是 {layer3}；layer4 中是 {layer4}（auto_model：上面的 freeze(..., ['layer4', 'fc'])）",
    "the grid's best arm at 24 steps, 10 digits per class: {best} ({acc:.3f}); over every budget: {overall} "
    "({overall_acc:.3f}; 16x the steps, not run live)":
        "网格中 24 步、每类 10 个数字时最好的实验组：{best}（{acc:.3f}）；所有预算中：{overall}（{overall_acc:.3f}；1"
        "6 倍步数，不在现场运行）",
    "{arm}, 10 digits per class, seed 0: test accuracy {accuracy:.2f}":
        "{arm}，每类 10 个数字，随机种子 0：测试准确率 {accuracy:.2f}",
    "per-class accuracy:": "每个类别的准确率：",
    "reloaded {arm}: identical logits on all {n} test images":
        "重新加载的 {arm}：全部 {n} 张测试图像上的 logits 完全相同",
    "Skipped the online section: {reason}.": "跳过了联网部分：{reason}。",
    "{name:>14}: test accuracy {acc:.3f} on 2,000 CIFAR-10 test images ({seconds:.0f} s)":
        "{name:>14}：在 2,000 张 CIFAR-10 测试图像上的测试准确率 {acc:.3f}（{seconds:.0f} 秒）",
    "no ImageNet weights here (not cached, and download.pytorch.org cannot be reached)":
        "这里没有 ImageNet 权重（没有缓存，也连不上 download.pytorch.org）",
    # notebook 06
    "LLaMA-7B: {n:,} parameters by formula = counted on the meta device = published":
        "LLaMA-7B：按公式 {n:,} 个参数 = 在 meta 设备上计数 = 公布值",
    "the 12·L·d² rule for GPT-2 small's layers: {rule:,} (exact layers, 12·(12d² + 13d) from notebook 01: {exact:,})":
        "GPT-2 small 各层的 12·L·d² 经验公式：{rule:,}（各层的精确值，笔记本 01 的 12·(12d² + 13d)：{exact:,}）",
    "just storing LLaMA-7B in bf16 (2 bytes each): {size:.1f} GB":
        "仅以 bf16（每个 2 字节）存储 LLaMA-7B：{size:.1f} GB",
    "activations, one 2048-token sequence, bf16, fused attention, SwiGLU: about {act:.1f} GB (with a GELU network's "
    "term: {gelu:.1f} GB)":
        "激活值，一个 2048 词元的序列，bf16，融合注意力，SwiGLU：约 {act:.1f} GB（按 GELU 网络的项：{gelu:.1f} GB）",
    "{n:,} parameters, batch {B} x {T} tokens, d = {D}, {L} layers, {H} heads":
        "{n:,} 个参数，批量 {B} x {T} 个词元，d = {D}，{L} 层，{H} 个头",
    "memory of one Adam training step": "一个 Adam 训练步的内存",
    "one training step: measured {measured:.3f} GFLOP, 6·N·D + attention {estimated:.3f} GFLOP, ratio {ratio:.3f}":
        "一个训练步：实测 {measured:.3f} GFLOP，6·N·D + 注意力 {estimated:.3f} GFLOP，比值 {ratio:.3f}",
    "on one A100 at 50% of its peak: {hours:,.0f} GPU-hours (the LLaMA paper reports 82,432 for its 7B model)":
        "在一块以 50% 峰值运行的 A100 上：{hours:,.0f} GPU 小时（LLaMA 论文报告其 7B 模型用了 82,432）",
    "this CPU, {threads} threads, float32 1024 x 1024 matmuls: {speed:.0f} GFLOP/s":
        "这台 CPU，{threads} 个线程，float32 1024 x 1024 矩阵乘法：{speed:.0f} GFLOP/s",
    "at that speed, the 6 · N · D above takes {years:,.0f} years":
        "以这个速度，上面的 6 · N · D 需要 {years:,.0f} 年",
    "{share:6.1%} trainable: {total:6.1f} GB (weights {weights:.1f}, gradients {gradients:.1f}, optimizer "
    "{optimizer:.1f})":
        "{share:6.1%} 可训练：{total:6.1f} GB（权重 {weights:.1f}，梯度 {gradients:.1f}，优化器 {optimizer:.1f}）",
    "LoRALinear equals the formula: max |difference| below 1e-5: {ok}":
        "LoRALinear 等于公式：最大 |差异| 低于 1e-5：{ok}",
    "trainable: {trainable:,} = r·(in + out), versus {total:,} in the layer ({share:.2%})":
        "可训练：{trainable:,} = r·(in + out)，该层共 {total:,}（{share:.2%}）",
    "at initialisation B = 0, so the output equals the frozen layer's, bit for bit":
        "初始化时 B = 0，所以输出与冻结的层逐位相同",
    "merged into a plain Linear: max |difference| below 1e-5: {ok}":
        "合并成普通的 Linear：最大 |差异| 低于 1e-5：{ok}",
    "r = {r:3d}: {lora:7,} trainable values, {share:6.2%} of the layer; Adam state {state:6.1f} KiB instead of "
    "{full:,.1f} KiB":
        "r = {r:3d}：{lora:7,} 个可训练值，占该层的 {share:6.2%}；Adam 状态 {state:6.1f} KiB，而不是 {full:,.1f} KiB",
    "under autocast: weights {weights} | matmul output {output} | loss {loss} | gradients {gradients}":
        "autocast 下：权重 {weights} | 矩阵乘法输出 {output} | 损失 {loss} | 梯度 {gradients}",
    "activations saved: float32 {full:.2f} MiB, autocast bfloat16 {half:.2f} MiB ({ratio:.2f}x)":
        "保存的激活值：float32 {full:.2f} MiB，autocast bfloat16 {half:.2f} MiB（{ratio:.2f} 倍）",
    "the losses agree to 2 decimals: {ok}": "两个损失在小数点后 2 位一致：{ok}",
    "float16 autocast on the GPU, loss of 5 steps:": "GPU 上的 float16 autocast，5 步的损失：",
    "No CUDA device: the float16 training step above is defined but not run.":
        "没有 CUDA 设备：上面的 float16 训练步已定义，但没有运行。",
    "accumulated gradients equal the big batch's: max |difference| below 1e-6: {ok}":
        "累加的梯度等于大批量的梯度：最大 |差异| 低于 1e-6：{ok}",
    "peak memory x{memory:.2f}, compute x{compute:.2f}": "峰值内存 x{memory:.2f}，计算量 x{compute:.2f}",
    "pretrained: accuracy {source:.2f} on new movie/restaurant reviews, {common:.2f} on the hotel/phone test reviews "
    "written with the common words":
        "预训练模型：在新的电影/餐厅评论上准确率 {source:.2f}，在用常见词写成的酒店/手机测试评论上 {common:.2f}",
    "un-adapted on the hotel/phone test reviews with the new words: {source:.2f} with its source head, {fresh:.2f} "
    "with a fresh head (chance: 0.50)":
        "未经适配，在用新词写成的酒店/手机测试评论上：用源任务的分类头 {source:.2f}，用新的分类头 {fresh:.2f}（随机猜"
        "测：0.50）",
    "validation accuracy of seed 0 by learning rate (* = chosen, ! = failed the check)":
        "随机种子 0 在各学习率下的验证准确率（* = 选中，! = 未通过检查）",
    "! failed the check:": "! 未通过检查：",
    "loss before training, every chosen run: {low:.2f} to {high:.2f} (ln 2 = {chance:.3f}); every one passed the "
    "check\n":
        "训练前的损失，所有选中的运行：{low:.2f} 到 {high:.2f}（ln 2 = {chance:.3f}）；全部通过检查\n",
    "{a:>8s} vs {b:12s}: gap {gap:+.3f}, 2 x spread {spread:.3f} -> {verdict}":
        "{a:>8s} vs {b:12s}：差距 {gap:+.3f}，2 x 标准差 {spread:.3f} -> {verdict}",
    "{winner} beats {loser}": "{winner} 优于 {loser}",
    "no difference": "无差异",
    "merged: {n:,} parameters, the pretrained model's size again, accuracy {acc:.2f}":
        "合并后：{n:,} 个参数，又回到预训练模型的大小，准确率 {acc:.2f}",
    "LLaMA-7B, mixed-precision Adam, sharded over {gpus:2d} GPUs: {size:6.1f} GB per GPU (+ activations + one "
    "gathered layer)":
        "LLaMA-7B，混合精度 Adam，分片到 {gpus:2d} 块 GPU：每块 GPU {size:6.1f} GB（+ 激活值 + 一个收集起来的层）",
    "\nwith activation checkpointing, the peak measured {with_ckpt:.2f} MiB instead of {without:.2f} MiB":
        "\n使用激活检查点后，实测峰值为 {with_ckpt:.2f} MiB，而不是 {without:.2f} MiB",
    # notebook 07
    "Python {version}: {docs:,} docstrings, {size:,} bytes, sha256 {sha}...":
        "Python {version}：{docs:,} 条文档字符串，{size:,} 字节，sha256 {sha}...",
    "pretraining corpus: {docs:,} docstrings, {size:,} bytes (the {held_out} validation and test texts left out)":
        "预训练语料：{docs:,} 条文档字符串，{size:,} 字节（不含 {held_out} 条验证和测试文本）",
    "{sizes} examples in the task splits": "任务各划分中的样本数：{sizes}",
    "{size:,} bytes, {n} merges: learn_merges = train_bpe, merge for merge":
        "{size:,} 字节，{n} 次合并：learn_merges = train_bpe，每一次合并都相同",
    "HF tokenizers: {same} of {n} learned tokens the same; bytes per token {ours:.3f} (ours) vs {theirs:.3f} (HF)":
        "HF tokenizers：学到的 {n} 个词元中有 {same} 个相同；每个词元的字节数 {ours:.3f}（我们的）vs {theirs:.3f}（HF"
        "）",
    "all 256 byte values round-trip": "全部 256 个字节值都能往返还原",
    "our BPE trained in {seconds:.1f} s of CPU time on {size:,} bytes":
        "我们的 BPE 在 {size:,} 字节上训练用了 {seconds:.1f} 秒 CPU 时间",
    "{same} of {n} learned tokens are the same": "学到的 {n} 个词元中有 {same} 个相同",
    "per head: q, k, v of shape {shape} (batch, heads, T, d_model / heads)":
        "每个头：q、k、v 的形状为 {shape}（批量，头数，T，d_model / 头数）",
    "same seed -> same {n} tensors; max |logits difference| = {diff:.1e}":
        "相同的随机种子 -> 相同的 {n} 个张量；最大 |logits 差异| = {diff:.1e}",
    "same 10 sampled tokens: {tokens}": "采样出的 10 个词元相同：{tokens}",
    "formula {formula:,} | counted {counted:,} | per-layer formulas {per_layer:,}":
        "公式 {formula:,} | 计数 {counted:,} | 逐层公式 {per_layer:,}",
    "GPT-2 small by the same formula: {n:,}": "用同一公式算 GPT-2 small：{n:,}",
    "{n:,} tokens ({bpt:.2f} bytes/token): {train:,} train, {val:,} validation":
        "{n:,} 个词元（每个词元 {bpt:.2f} 字节）：训练 {train:,}，验证 {val:,}",
    "untrained: loss {loss:.3f} (ln V = {chance:.3f}), perplexity {ppl:.0f}":
        "未训练：损失 {loss:.3f}（ln V = {chance:.3f}），困惑度 {ppl:.0f}",
    "sample before pretraining:": "预训练前的采样：",
    "max |weight difference| after 2 steps: {diff:.1e}": "2 步之后的最大 |权重差异|：{diff:.1e}",
    "step {step}: train loss {train:.4f} (library {lib_train:.4f}), validation {val:.4f} (library {lib_val:.4f})":
        "第 {step} 步：训练损失 {train:.4f}（库函数 {lib_train:.4f}），验证 {val:.4f}（库函数 {lib_val:.4f}）",
    "{how}: {steps} steps of {batch} x {T} tokens, {seconds:.0f} s of training":
        "{how}：{steps} 步，每步 {batch} x {T} 个词元，训练用时 {seconds:.0f} 秒",
    "step {step:4d}  train loss {train:.2f}  validation loss {val:.2f}  perplexity {ppl:6.1f}":
        "第 {step:4d} 步  训练损失 {train:.2f}  验证损失 {val:.2f}  困惑度 {ppl:6.1f}",
    "pretrained body + fresh head, no training: test accuracy {acc:.2f} (chance 0.10)":
        "预训练的主体 + 新的分类头，不训练：测试准确率 {acc:.2f}（随机猜测 0.10）",
    "x = failed the check:": "x = 未通过检查：",
    "(test: {n} docstrings; mean ± std over {seeds} seeds; chance 0.10)":
        "（测试：{n} 条文档字符串；{seeds} 个随机种子的均值 ± 标准差；随机猜测 0.10）",
    "{arm:14s} training time per run: {times}": "{arm:14s} 每次运行的训练时间：{times}",
    "from {low} to {high} per class: {gains}": "每类从 {low} 个到 {high} 个：{gains}",
    "@ {k}/class: {a} {verdict} {b} ({ma:.2f} vs {mb:.2f}, 2 x spread {noise:.2f})":
        "每类 {k} 个：{a} {verdict} {b}（{ma:.2f} vs {mb:.2f}，2 x 标准差 {noise:.2f}）",
    "@ {k}/class, {steps} steps of pretraining: {m:.2f} ± {s:.2f}, no pretraining {m0:.2f}; "
    "{verdict} bag of words ({bow:.2f}, 2 x spread {noise:.2f})":
        "每类 {k} 个，预训练 {steps} 步：{m:.2f} ± {s:.2f}，不预训练 {m0:.2f}；"
        "{verdict}词袋模型（{bow:.2f}，2 x 标准差 {noise:.2f}）",
    "@ {k}/class, gain per doubling of pretraining: {gains}": "每类 {k} 个，预训练每翻一倍的提高：{gains}",
    "same greedy continuation:": "贪心续写相同：",
    "copied {n} LoRA matrices": "复制了 {n} 个 LoRA 矩阵",
    "max |class logits difference| over {n} test docstrings = {diff:.1e}":
        "{n} 条测试文档字符串上的最大 |类别 logits 差异| = {diff:.1e}",
    # notebook 08
    "{how}; {seconds:.1f} s of CPU time for this cell and the one above":
        "{how}；这个单元格和上一个共用了 {seconds:.1f} 秒 CPU 时间",
    "{tokenizer}, {n:,} parameters, validation loss {loss:.2f} (perplexity {ppl:.0f})":
        "{tokenizer}，{n:,} 个参数，验证损失 {loss:.2f}（困惑度 {ppl:.0f}）",
    "{name:5s} {n:5d} pairs from {packages:3d} packages, most from {top}":
        "{name:5s} {n:5d} 对，来自 {packages:3d} 个包，最多的是 {top}",
    "{name:5s} {n:5d} of {total:5d} pairs fit in {max_tokens} tokens: prompt {prompt:.1f} + answer {answer:.1f} "
    "tokens on average (end token included)":
        "{name:5s} {total:5d} 对中有 {n:5d} 对不超过 {max_tokens} 个词元：平均提示 {prompt:.1f} + 回答 {answer:.1f} "
        "个词元（含结束词元）",
    "vocabulary {before} -> {after}: {n} x {d} = {new} new parameters":
        "词表 {before} -> {after}：{n} x {d} = {new} 个新参数",
    "with PAD = END and the pad id ignored, the end token's target becomes {target}":
        "PAD = END 且忽略填充 id 时，结束词元的目标变成了 {target}",
    "{how} in {seconds:.1f} s of CPU time (the runs took {runs:.0f} s)":
        "{how}，用了 {seconds:.1f} 秒 CPU 时间（这些运行本身用了 {runs:.0f} 秒）",
    "this notebook's loop, SFT seed 0: losses {first:.3f} -> {last:.3f}, the cached run's {cached_first:.3f} -> "
    "{cached_last:.3f}":
        "本笔记本的循环，SFT 随机种子 0：损失 {first:.3f} -> {last:.3f}，缓存的运行 {cached_first:.3f} -> {cached_las"
        "t:.3f}",
    "one SFT run of {steps} steps: {seconds:.1f} s of CPU time":
        "一次 {steps} 步的 SFT 运行：{seconds:.1f} 秒 CPU 时间",
    "(test: {n} answers for bits per byte, the first {n_eval} answered greedily; mean ± std over {seeds} seeds)":
        "（测试：{n} 个回答用于计算每字节比特数，其中前 {n_eval} 个用贪心解码作答；{seeds} 个随机种子的均值 ± 标准差"
        "）",
    "stop rate:": "停止率：",
    "first word: SFT {sft:.3f} vs always {majority!r} {baseline:.3f}":
        "首词：SFT {sft:.3f} vs 总是回答 {majority!r} {baseline:.3f}",
    "{metric}: {a} {verdict} {b} ({ma:.3f} vs {mb:.3f}, 2 x spread {noise:.3f})":
        "{metric}：{a} {verdict} {b}（{ma:.3f} vs {mb:.3f}，2 x 标准差 {noise:.3f}）",
    "GPT2LMHeadModel, same greedy answer:": "GPT2LMHeadModel，贪心解码的回答相同：",
    "copied {n} LoRA matrices into peft": "把 {n} 个 LoRA 矩阵复制到 peft",
    "LoRA: ours vs peft, max |logits difference| on 32 test examples = {diff:.1e}":
        "LoRA：我们的 vs peft，32 个测试样本上的最大 |logits 差异| = {diff:.1e}",
    # course_utils.experiments.depth_sweep (notebook 04)
    "learning-rate sweep (seed 0), training loss over the last 10 steps (x: failed the check, -: not tried):":
        "学习率扫描（随机种子 0），最后 10 步的训练损失（x：未通过检查，-：未尝试）：",
    "at a rate chosen on seed 0, another seed failed the check:":
        "在随机种子 0 上选中的某个学习率下，另一个随机种子未通过检查：",
    "at every rate chosen on seed 0, the other seeds passed the check too":
        "在随机种子 0 上选中的每个学习率下，其他随机种子也都通过了检查",
    "(mean ± standard deviation over the 3 seeds)": "（3 个随机种子的均值 ± 标准差）",
    # table headers with values (the tables' words are in WORDS)
    "(no rows: the model has no parameters)": "（没有行：这个模型没有参数）",
    "... {n} more rows": "……还有 {n} 行",
    "{k:>2}/class ({n:>3} images)": "每类 {k:>2} 个（{n:>3} 张）",
    "{target:>6}, {k:>2}/class: ": "{target:>6}，每类 {k:>2} 个：",
    "LLaMA-7B, {recipe:13s}: weights {weights:5.1f} GB + gradients {gradients:5.1f} GB + optimizer "
    "{optimizer:5.1f} GB = {total:6.1f} GB":
        "LLaMA-7B，{recipe:13s}：权重 {weights:5.1f} GB + 梯度 {gradients:5.1f} GB + 优化器状态 "
        "{optimizer:5.1f} GB = {total:6.1f} GB",
    "   (mean weight, positions 1..{last})": "   （平均权重，位置 1..{last}）",
    "acc @ {k}/class": "每类 {k} 个准确率",
    "always {word!r}": "恒答 {word!r}",
    "{fresh:>12.3f} (fresh head), {source:.3f} (source head)": "{fresh:>12.3f}（新分类头），{source:.3f}（源分类头）",
    "new lexicon: positive {positive}\n             negative {negative}":
        "新词汇：正面 {positive}\n       负面 {negative}",
    "vocabulary: {n} tokens; e.g. {ids}": "词表：{n} 个词元；例如 {ids}",
    "{model} max |logits difference| = {diff:.1e}": "{model} 最大 |logits 差异| = {diff:.1e}",
}

#: English words passed as values (verdicts, arm names) -> Chinese.
WORDS: dict[str, str] = {
    # the verdicts of a comparison over seeds ("beats" only past twice the spread)
    "beats": "优于",
    "loses to": "不如",
    "no difference from": "无异于",
    "yes": "是",
    "no": "否",
    # notebook 02
    "sane, lr 0.3": "正常，学习率 0.3",
    "inputs 255x too large, lr 0.3": "输入大了 255 倍，学习率 0.3",
    "lr 100": "学习率 100",
    "lr 0": "学习率 0",
    "labels outside [0, C)": "标签超出 [0, C)",
    "wrong target shape": "目标的形状不对",
    "rows that do not sum to 1": "各行之和不为 1",
    # notebook 02: what agree() compares
    "by hand vs course_utils vs torch.softmax": "手算 vs course_utils vs torch.softmax",
    "softmax(z + 100) == softmax(z)": "softmax(z + 100) == softmax(z)",
    "one-hot form vs index form": "独热形式 vs 索引形式",
    "cross-entropy: by hand vs course_utils vs nn.CrossEntropyLoss":
        "交叉熵：手算 vs course_utils vs nn.CrossEntropyLoss",
    "nll_loss(log_softmax(z)) vs nn.CrossEntropyLoss": "nll_loss(log_softmax(z)) vs nn.CrossEntropyLoss",
    "log-softmax: by hand vs course_utils vs torch": "log-softmax：手算 vs course_utils vs torch",
    "loss: by hand vs course_utils vs F.cross_entropy": "损失：手算 vs course_utils vs F.cross_entropy",
    "stable loss for very negative logits": "logits 极负时的稳定损失",
    "H(y, y_hat) = H(y) + KL": "H(y, y_hat) = H(y) + KL",
    "KL by hand vs torch.distributions": "KL：手算 vs torch.distributions",
    "KL by hand vs F.kl_div": "KL：手算 vs F.kl_div",
    "mean cross-entropy = -log(likelihood) / N": "平均交叉熵 = -log(似然) / N",
    "BCE by hand vs F.binary_cross_entropy_with_logits": "BCE：手算 vs F.binary_cross_entropy_with_logits",
    "BCE == 2-class softmax cross-entropy": "BCE == 两类别 softmax 交叉熵",
    "gradient: formula vs autograd (ours) vs autograd (PyTorch)":
        "梯度：公式 vs autograd（我们的）vs autograd（PyTorch 的）",
    "weight=w": "weight=w",
    "ignore_index=-100": "ignore_index=-100",
    "probability targets": "概率目标",
    "one-hot probabilities == class indices": "独热概率 == 类别索引",
    "label_smoothing=0.1": "label_smoothing=0.1",
    "reduction='none'": "reduction='none'",
    "reduction='sum'": "reduction='sum'",
    "reduction='mean'": "reduction='mean'",
    # notebook 03
    "too small": "太小",
    "right": "合适",
    "too large": "太大",
    "diverged": "发散",
    "converging": "收敛中",
    "with zero_grad": "调用 zero_grad",
    "without zero_grad": "不调用 zero_grad",
    # notebook 04
    "zeros": "全零",
    "too small (std 0.01)": "太小（std 0.01）",
    "too large (std 0.15)": "太大（std 0.15）",
    "Xavier": "Xavier",
    "Kaiming": "Kaiming",
    "constant 0.3": "常数 0.3",
    "plain, default init": "普通网络，默认初始化",
    "plain, Kaiming init": "普通网络，Kaiming 初始化",
    "plain + BN": "普通网络 + BN",
    "residual, no BN": "残差，无 BN",
    "residual + BN": "残差 + BN",
    "2-layer MLP": "两层 MLP",
    "PyTorch's defaults": "PyTorch 的默认值",
    "zero_init_residual": "zero_init_residual",
    # notebook 05
    "glyphs": "字形",
    "digits": "数字",
    "short budget": "短预算",
    "long budget": "长预算",
    "augmented": "数据增强",
    "none": "无",
    # notebook 06
    "LoRA": "LoRA",
    "head only": "只训练分类头",
    "full": "全量微调",
    "from scratch": "从零训练",
    "bag of words": "词袋模型",
    # notebook 07
    "loaded from cache": "从缓存加载",
    "trained": "训练完成",
    "scratch": "从零训练",
    "full (last)": "全量微调（末词元）",
    # notebook 08
    "pretrained (first run)": "预训练完成（首次运行）",
    "computed": "计算完成",
    "SFT": "SFT",
    "no mask": "不屏蔽提示",
    "no SFT": "不做 SFT",
    "answer bpb": "回答的 bpb",
    "first word": "首词",
    "exact": "完全一致",
    "stop rate": "停止率",
    # table headers and row names (course_utils.tables.format_table, the notebooks' own tables)
    "name": "名称",
    "type": "类型",
    "shape": "形状",
    "parameters": "参数量",
    "trainable": "可训练",
    "layers": "层数",
    "formula": "公式",
    "total": "合计",
    "model": "模型",
    "weight layers": "权重层",
    "sum of formulas": "公式之和",
    "published": "官方公布",
    "stage": "阶段",
    "share": "占比",
    "depth": "深度",
    "parameters per layer": "每层参数量",
    "exact formula": "精确公式",
    "rule/exact": "估算/精确",
    "options": "选项",
    "final loss": "最终损失",
    "batch size": "批量大小",
    "relative error": "相对误差",
    "epoch": "迭代周期",
    "train loss": "训练损失",
    "train acc": "训练准确率",
    "val loss": "验证损失",
    "val acc": "验证准确率",
    "init": "初始化",
    "layer 1": "第 1 层",
    "layer 10": "第 10 层",
    "layer 20": "第 20 层",
    "(activation std)": "（激活值的标准差）",
    "network": "网络",
    "chosen": "选中",
    "network (3 seeds)": "网络（3 个随机种子）",
    "first loss": "第一个损失",
    "highest loss": "最高损失",
    "final train loss": "最终训练损失",
    "test accuracy": "测试准确率",
    "not run": "未运行",
    "estimated": "估计",
    "measured": "实测",
    "ratio": "比值",
    "weights": "权重",
    "gradients": "梯度",
    "Adam state (m, v)": "Adam 状态（m、v）",
    "activations saved for backward": "为反向传播保存的激活值",
    "peak of one training step": "一步训练的峰值",
    "without": "不用检查点",
    "with": "使用检查点",
    "saved for backward": "为反向传播保存",
    "peak (weights + step)": "峰值（权重 + 一步）",
    "FLOPs of the step": "一步的 FLOPs",
    "recipe": "方案",
    "of": "占比",
    "state (est.)": "状态（估计）",
    "test accuracy, 3 seeds": "3 个随机种子的测试准确率",
    "un-adapted": "未适配",
    "vocab": "词表",
    "bytes/token": "字节/词元",
    "ours (Python)": "我们的（Python）",
    "HF tokenizers": "HF tokenizers",
    "largest weight": "最大权重",
    "with /√d": "除以 √d",
    "itself": "自身",
    "previous": "前一个",
    "first": "首个",
    "arm": "实验组",
    "peak MB": "峰值 MB",
    "steps": "步数",
    "tokens": "词元数",
    "input": "输入",
    "target": "目标",
    "loss (nats)": "损失（nats）",
    "negative": "负面",
    "positive": "正面",
    "(transposed)": "（转置）",
}


#: The messages of :func:`course_utils.losses.sanity_problem`: English template -> Chinese.
PROBLEMS: dict[str, str] = {
    "{name}: first loss {first_loss:.3f} is far from ln C = {chance:.3f}: check the initialization, the input "
    "scaling and the labels":
        "{name}：第一个损失 {first_loss:.3f} 远离 ln C = {chance:.3f}：请检查初始化、输入的缩放和标签",
    "{name}: diverged (a loss became nan or inf); lower the learning rate":
        "{name}：发散了（有损失变成了 nan 或 inf）；请降低学习率",
    "{name}: diverged (losses {losses}, ln C = {chance:.3f}); lower the learning rate":
        "{name}：发散了（各四分之一段的损失 {losses}，ln C = {chance:.3f}）；请降低学习率",
    "{name}: did not learn (losses {losses}, the last not below the first loss {first_loss:.3f}); try another "
    "learning rate":
        "{name}：没有学到东西（各四分之一段的损失 {losses}，最后一段不低于第一个损失 {first_loss:.3f}）；"
        "请换一个学习率",
}


def say(template: str, /, **values) -> Text:
    """``template.format(**values)`` in English; its :data:`ZH` entry, formatted, in Chinese
    (:func:`course_utils.i18n.message`), a :class:`~course_utils.losses.SanityProblem` value from
    :data:`PROBLEMS`. Raises ``KeyError`` in Chinese when the template has no entry. The result is a
    :class:`~course_utils.i18n.Text`: padded by screen columns in a format spec (a table's header)."""
    return Text(message(ZH, template, **{name: _shown(value) for name, value in values.items()}))


def _shown(value):
    """A value as :func:`say` prints it: a message that keeps its English ``template`` and ``values`` (a
    :class:`~course_utils.losses.SanityProblem`: a lesson module, which plumbing such as this module does not
    import) from its :data:`PROBLEMS` entry, other text as a :class:`~course_utils.i18n.Text` (padded by
    screen columns: ``{arm:14s}`` of a Chinese arm name), anything else as given."""
    if isinstance(value, str) and hasattr(value, "template"):
        return message(PROBLEMS, value.template, **value.values)
    return Text(value) if isinstance(value, str) else value


def term(text: str) -> Text:
    """An English word or phrase of prose used as a value: itself in English, its :data:`WORDS`
    entry in Chinese (:func:`course_utils.i18n.translate`; raises ``KeyError`` when there is none).
    A :class:`~course_utils.i18n.Text`, so ``f"{term(arm):14s}"`` lines up in both languages."""
    return Text(translate(WORDS, text))
