"""Pure Keras model builders: ``build_*(...) -> keras.Model`` (compiled where a loss is fixed).

Builders take plain arguments and return a fresh model; they load no data and no weights, so
tests can build tiny models on the fly and training scripts stay reproducible. Keras is imported
inside the builders (this module is imported by CLI code paths that must stay light).

Restoration (H-restore):
- :func:`build_unet` — the shipped restorer: a small fully convolutional U-Net.
- :func:`build_autoencoder` — the reference encoder-decoder baseline (224×224×1 input,
  Conv/MaxPool/UpSampling, exactly 314,625 parameters, RMSprop + MSE).
- :func:`restoration_loss` — the loss family compared in the loss experiment (mse, l1, ssim mixes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: number of parameters of the reference encoder-decoder (a test asserts it)
AUTOENCODER_PARAMS = 314_625


def ssim_per_image(y_true: Any, y_pred: Any, win: int = 7) -> Any:
    """SSIM of each image in a batch (N×H×W×1, data range 1) as a differentiable Keras op.

    The same definition as the evaluation (``skimage.metrics.structural_similarity(...,
    data_range=1, win_size=7)``): a uniform ``win``×``win`` window, sample covariances, the mean of
    the SSIM map over the positions where the window fits. The five local moments are box-filtered
    together with one separable depthwise convolution, which with its gradient costs about a
    quarter of ``tf.image.ssim`` (Gaussian window) on this CPU. Written with ``keras.ops`` so the
    same loss trains on every Keras backend (TensorFlow here, JAX or PyTorch on a lent GPU machine,
    ``training/device_train.py``).
    """
    from keras import ops

    x = ops.cast(y_true, "float32")
    y = ops.cast(y_pred, "float32")
    stack = ops.concatenate([x, y, x * x, y * y, x * y], axis=-1)
    k = np.full((win, 1, 5, 1), 1.0 / win, np.float32)
    stack = ops.depthwise_conv(stack, k, strides=1, padding="valid")
    stack = ops.depthwise_conv(stack, np.ascontiguousarray(k.transpose(1, 0, 2, 3)), strides=1, padding="valid")
    mx, my, xx, yy, xy = (stack[..., i] for i in range(5))
    n = float(win * win)
    cov = n / (n - 1.0)
    vx, vy, vxy = cov * (xx - mx * mx), cov * (yy - my * my), cov * (xy - mx * my)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim_map = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return ops.mean(ssim_map, axis=[1, 2])


def restoration_loss(name: str = "l1_ssim", alpha: float = 0.84) -> Any:
    """Loss for restoration on images in [0, 1] (``keras.ops``: any Keras backend).

    Parameters
    ----------
    name : "mse", "l1", "ssim" (1 - SSIM), "mse_ssim" or "l1_ssim" (``alpha``·(1-SSIM) + (1-``alpha``)·L1,
        the mix of Zhao et al., "Loss functions for image restoration with neural networks").
        SSIM is :func:`ssim_per_image` (the evaluation's definition).
    alpha : weight of the SSIM term in the mixes.

    Returns
    -------
    A callable ``loss(y_true, y_pred)`` usable by ``model.compile``.
    """
    from keras import ops

    def _ssim(y_true, y_pred):
        return 1.0 - ops.mean(ssim_per_image(y_true, y_pred))

    def mse(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred))

    def l1(y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred))

    def ssim(y_true, y_pred):
        return _ssim(y_true, y_pred)

    def mse_ssim(y_true, y_pred):
        return alpha * _ssim(y_true, y_pred) + (1.0 - alpha) * mse(y_true, y_pred)

    def l1_ssim(y_true, y_pred):
        return alpha * _ssim(y_true, y_pred) + (1.0 - alpha) * l1(y_true, y_pred)

    fns = {"mse": mse, "l1": l1, "ssim": ssim, "mse_ssim": mse_ssim, "l1_ssim": l1_ssim}
    if name not in fns:
        raise ValueError(f"unknown restoration loss {name!r}; choose one of {sorted(fns)}")
    return fns[name]


def ssim_metric(y_true, y_pred):
    """Mean SSIM (:func:`ssim_per_image`) of the prediction clipped to [0, 1], as inference
    returns it; a Keras metric logged as ``ssim`` / ``val_ssim``."""
    from keras import ops

    return ops.mean(ssim_per_image(y_true, ops.clip(y_pred, 0.0, 1.0)))


ssim_metric.__name__ = "ssim"


def build_unet(input_shape: tuple[int | None, int | None, int] = (None, None, 1), *, base: int = 16,
               levels: int = 3, learning_rate: float = 1e-3, loss: str = "l1_ssim",
               residual: bool = True, upsampling: str = "transpose", dilations: tuple[int, ...] = (),
               compile: bool = True, name: str = "restore_unet") -> Any:
    """A small U-Net restorer: degraded print in [0, 1] -> clean print in [0, 1].

    Two 3x3 conv + ReLU per level, ``levels`` max-pool downsamplings, upsampling + skip
    concatenation. Fully convolutional: any H, W divisible by ``2**levels`` (``ml/restoration.py``
    pads to that).

    With ``residual`` (the default since restore-unet v2) the network predicts a correction that is
    added to its input, and that last layer starts at zero: an untrained model is the identity, so
    training only has to learn what to change, and undamaged ridges pass through untouched. The
    output is not clipped inside the model (a clip would stop gradients); inference clips to [0, 1].
    Without ``residual`` the output is a sigmoid (restore-unet v1).

    With more than one input channel, channel 0 is the degraded print and the others are guidance
    (ml/restoration/guidance.py); the residual output then adds the correction to channel 0, picked
    by a fixed 1×1 convolution (``input_print``, not trainable) so the ONNX exporter needs no new op.

    Parameters
    ----------
    input_shape : (H, W, C); ``None`` sizes make the model size-agnostic; C = 1 + guidance channels.
    base : filters of the first level, doubled at each level.
    levels : number of downsamplings.
    learning_rate : Adam learning rate (when ``compile``).
    loss : see :func:`restoration_loss`.
    residual : output = input + learned correction (see above).
    upsampling : "transpose" (2x2 stride-2 transposed convolution; traceable with unknown H, W, so
        inference runs as one ``tf.function`` for every print size) or "bilinear" (UpSampling2D +
        1x1 conv, restore-unet v1).
    dilations : extra 3x3 convolutions in the bottleneck with these dilation rates (e.g. (2, 4, 8)):
        a larger receptive field at little cost (each adds ``2 * rate * 2**levels`` pixels of context).
    compile : compile with Adam + ``loss`` + mae/ssim metrics.

    Returns
    -------
    keras.Model
    """
    import keras
    from keras import layers

    inp = keras.Input(shape=input_shape, name="degraded")
    x = inp
    skips = []
    f = base
    for i in range(levels):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"enc{i}_a")(x)
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"enc{i}_b")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
        f *= 2
    x = layers.Conv2D(f, 3, padding="same", activation="relu", name="mid_a")(x)
    x = layers.Conv2D(f, 3, padding="same", activation="relu", name="mid_b")(x)
    for r in dilations:
        x = layers.Conv2D(f, 3, padding="same", dilation_rate=int(r), activation="relu", name=f"mid_d{r}")(x)
    for i in reversed(range(levels)):
        f //= 2
        if upsampling == "transpose":
            x = layers.Conv2DTranspose(f, 2, strides=2, padding="same", activation="relu", name=f"up{i}")(x)
        elif upsampling == "bilinear":
            x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{i}")(x)
            x = layers.Conv2D(f, 1, padding="same", activation="relu", name=f"up{i}_proj")(x)
        else:
            raise ValueError(f"unknown upsampling {upsampling!r}; choose 'transpose' or 'bilinear'")
        x = layers.Concatenate(name=f"skip{i}")([x, skips[i]])
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"dec{i}_a")(x)
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"dec{i}_b")(x)
    if residual:
        delta = layers.Conv2D(1, 1, padding="same", kernel_initializer="zeros", name="correction")(x)
        base_img = inp
        if input_shape[-1] != 1:  # guidance channels follow the print: add the correction to channel 0
            pick = np.zeros((1, 1, int(input_shape[-1]), 1), np.float32)
            pick[0, 0, 0, 0] = 1.0
            base_img = layers.Conv2D(1, 1, padding="same", trainable=False, name="input_print",
                                     kernel_initializer=keras.initializers.Constant(pick))(inp)
        out = layers.Add(name="clean")([base_img, delta])
    else:
        out = layers.Conv2D(1, 1, padding="same", activation="sigmoid", name="clean")(x)
    model = keras.Model(inp, out, name=name)
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=restoration_loss(loss),
                      metrics=["mae", ssim_metric])
    return model


def build_autoencoder(input_shape: tuple[int | None, int | None, int] = (224, 224, 1), *,
                      learning_rate: float = 1e-3, compile: bool = True,
                      name: str = "restore_autoencoder") -> Any:
    """The reference fingerprint encoder-decoder (baseline), exactly 314,625 parameters.

    Conv(32)-MaxPool-Conv(64)-MaxPool-Conv(128) | Conv(128)-UpSampling-Conv(64)-UpSampling-Conv(1, sigmoid),
    all 3x3 "same" convolutions with ReLU, trained with RMSprop on MSE as in the reference. The
    reference input is 224×224×1; pass ``(None, None, 1)`` for a size-agnostic copy (same weights,
    H and W divisible by 4).

    Returns
    -------
    keras.Model
    """
    import keras
    from keras import layers

    inp = keras.Input(shape=input_shape, name="degraded")
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="enc1")(inp)
    x = layers.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="enc2")(x)
    x = layers.MaxPooling2D(2, padding="same", name="pool2")(x)
    x = layers.Conv2D(128, 3, padding="same", activation="relu", name="enc3")(x)
    x = layers.Conv2D(128, 3, padding="same", activation="relu", name="dec1")(x)
    x = layers.UpSampling2D(2, name="up1")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="dec2")(x)
    x = layers.UpSampling2D(2, name="up2")(x)
    out = layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="clean")(x)
    model = keras.Model(inp, out, name=name)
    if compile:
        model.compile(optimizer=keras.optimizers.RMSprop(learning_rate), loss="mse",
                      metrics=["mae", ssim_metric])
    return model


# --------------------------------------------------------------------------------------------
# Classifiers (H-classify): presentation-attack detection and gender. Both output one LOGIT
# (no sigmoid): calibration (Platt / temperature) and the operating threshold are applied on
# top, from the model card, in ml/classifiers.py.
# --------------------------------------------------------------------------------------------

#: default classifier input (H, W, 1): SOCOFing prints are 103×96, padded by one row
CLASSIFIER_INPUT = (104, 96, 1)
#: pad_cnn's ``alter_map`` comes from this block (3 pools before it: 8x8-pixel cells)
PAD_MAP_BLOCK = 3
#: weight of an altered cell in :func:`alteration_map_loss`
MAP_POS_WEIGHT = 10.0



def _conv_bn(x: Any, filters: int, name: str) -> Any:
    from keras import layers

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    # momentum 0.9: short CPU trainings (a few hundred steps) need moving statistics that settle
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build_print_cnn(input_shape: tuple[int, int, int] = CLASSIFIER_INPUT, *, widths: tuple[int, ...] = (32, 64, 128, 128),
                    convs_per_block: int = 2, dropout: float = 0.3, global_max: bool = True,
                    learning_rate: float = 1e-3, compile: bool = True, name: str = "print_cnn",
                    map_block: int | None = None, map_weight: float = 1.0) -> Any:
    """Small VGG-style binary classifier on a whole print in [0, 1]; outputs one logit.

    ``len(widths)`` blocks of ``convs_per_block`` × (3x3 conv, batch norm, ReLU) then 2x2 max-pool;
    the last feature map is summarised by global average pooling (and global max pooling when
    ``global_max``: a local artefact anywhere in the print should be able to drive the decision),
    then dropout and a linear unit. The last conv block is named ``last_conv_relu`` so Grad-CAM
    can find it.

    Parameters
    ----------
    input_shape : (H, W, 1).
    widths : filters per block.
    convs_per_block : convolutions per block.
    dropout : dropout rate before the output unit.
    global_max : concatenate global max pooling to global average pooling.
    learning_rate : Adam learning rate.
    compile : compile with binary cross-entropy on logits and AUC / accuracy metrics.
    map_block : when set, a second output ``alter_map``: one logit per cell of block ``map_block``'s
        feature map (a 1x1 conv on its last ReLU, before its pooling; flattened), trained against
        where the print is altered (:func:`alteration_map_loss`, weighted ``map_weight``). The outputs
        are then a dict ``{"logit", "alter_map"}``; :func:`logit_model` gives the one-logit model.

    Returns
    -------
    keras.Model
    """
    import keras
    from keras import layers

    inp = keras.Input(shape=input_shape, name="print")
    x = inp
    for b, w in enumerate(widths):
        for c in range(convs_per_block):
            last = b == len(widths) - 1 and c == convs_per_block - 1
            x = _conv_bn(x, w, "last_conv" if last else f"b{b}c{c}")
        if b == map_block:
            cell = layers.Conv2D(1, 1, name="alter_map_conv")(x)
            alter_map = layers.Flatten(name="alter_map")(cell)
        if b < len(widths) - 1:
            x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
    pooled = layers.GlobalAveragePooling2D(name="gap")(x)
    if global_max:
        pooled = layers.Concatenate(name="pool_concat")([pooled, layers.GlobalMaxPooling2D(name="gmp")(x)])
    pooled = layers.Dropout(dropout, name="dropout")(pooled)
    out = layers.Dense(1, name="logit")(pooled)
    if map_block is None:
        model = keras.Model(inp, out, name=name)
    else:
        if not 0 <= map_block < len(widths):
            raise ValueError(f"map_block {map_block} is not one of the {len(widths)} blocks")
        model = keras.Model(inp, {"logit": out, "alter_map": alter_map}, name=name)
    if compile:
        compile_print_cnn(model, learning_rate, map_weight=map_weight)
    return model


def alteration_map_loss(y_true: Any, y_pred: Any) -> Any:
    """Per print: binary cross-entropy of the cell logits against the altered cells (1) and the
    others (0), the altered cells weighted ``MAP_POS_WEIGHT`` (an Easy z-cut covers 4-6 of ~150
    cells), averaged over the cells; cells marked -1 (where the print is altered is unknown) count
    for nothing, so a print without a known mask adds 0."""
    from keras import ops

    y_true = ops.cast(y_true, y_pred.dtype)
    known = ops.cast(y_true >= 0.0, y_pred.dtype)
    y = ops.maximum(y_true, 0.0)
    # stable BCE on logits: max(z, 0) - z*y + log(1 + exp(-|z|)), positives weighted
    bce = ops.maximum(y_pred, 0.0) - y_pred * y + ops.log1p(ops.exp(-ops.abs(y_pred)))
    w = known * (1.0 + (MAP_POS_WEIGHT - 1.0) * y)
    return ops.sum(w * bce, axis=-1) / ops.maximum(ops.sum(known, axis=-1), 1.0)


def custom_objects() -> dict[str, Any]:
    """What ``keras.models.load_model`` needs to load a *compiled* model of this module (a resumed
    training); registered with Keras on first call."""
    import keras

    name = "fpstation>alteration_map_loss"
    if keras.saving.get_registered_object(name) is None:
        keras.saving.register_keras_serializable(package="fpstation")(alteration_map_loss)
    return {name: alteration_map_loss, "alteration_map_loss": alteration_map_loss}


def compile_print_cnn(model: Any, learning_rate: Any, map_weight: float = 1.0) -> None:
    """Adam (``learning_rate``: a float or a schedule) + binary cross-entropy on the logit, with
    AUC and accuracy; a model with an ``alter_map`` output adds :func:`alteration_map_loss`
    weighted ``map_weight`` (its metrics are then named ``logit_auc``, ``val_logit_auc``...)."""
    import keras

    metrics = [keras.metrics.AUC(from_logits=True, name="auc"), keras.metrics.BinaryAccuracy(threshold=0.0, name="acc")]
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    if isinstance(model.output, dict):
        custom_objects()
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss={"logit": bce, "alter_map": alteration_map_loss},
                      loss_weights={"logit": 1.0, "alter_map": float(map_weight)}, metrics={"logit": metrics})
    else:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=bce, metrics=metrics)


def has_alter_map(model: Any) -> bool:
    return isinstance(getattr(model, "output", None), dict) and "alter_map" in model.output


def logit_model(model: Any) -> Any:
    """The one-logit model of a model with an ``alter_map`` output (the same layers); else ``model``."""
    import keras

    if not has_alter_map(model):
        return model
    return keras.Model(model.input, model.output["logit"], name=f"{model.name}_logit")


def mean_logit_ensemble(members: list[Any], name: str = "print_cnn_ensemble",
                        affine: list[tuple[float, float]] | None = None) -> Any:
    """One flat Keras graph whose logit is the mean of ``members``' logits (one-logit models on the
    same input). Each member is copied onto a shared input, its layers renamed ``m<i>_…`` (the first
    keeps its names, so Grad-CAM finds its ``last_conv_relu``); the ``1/len(members)`` is folded into
    each member's last ``Dense`` and the logits are summed by an ``Add`` layer. Only ordinary layers,
    so the ONNX export (:mod:`fpstation.ml.onnx_export`) and inference take it like any one model.
    One member: that member, unchanged.

    ``affine`` (one ``(a, b)`` per member): the mean of ``a_i * logit_i + b_i`` instead, each member's
    own Platt calibration folded into its last ``Dense`` too (a cross-fitted ensemble, whose members
    were each calibrated on the people they did not see: ``training/train_pad.py --cross-fit K``)."""
    import keras

    if not members:
        raise ValueError("an ensemble needs at least one member")
    if affine is not None and len(affine) != len(members):
        raise ValueError(f"{len(affine)} calibrations for {len(members)} members")
    if len(members) == 1 and affine is None:
        return members[0]
    inp = keras.Input(tuple(members[0].inputs[0].shape[1:]), name="print")
    outs = []
    for i, m in enumerate(members):
        if tuple(m.inputs[0].shape[1:]) != tuple(inp.shape[1:]):
            raise ValueError(f"member {i} takes {tuple(m.inputs[0].shape[1:])}, member 0 {tuple(inp.shape[1:])}")
        last = m.layers[-1]
        if not isinstance(last, keras.layers.Dense) or last.units != 1 or last.get_config().get("activation") != "linear":
            raise ValueError(f"member {i} does not end in a one-unit linear Dense (a logit)")

        def rename(layer, i=i):
            cfg = layer.get_config()
            cfg["name"] = layer.name if i == 0 else f"m{i}_{layer.name}"
            return layer.__class__.from_config(cfg)

        clone = keras.models.clone_model(m, input_tensors=inp, clone_function=rename)
        for layer in m.layers:
            if layer.weights:
                clone.get_layer(layer.name if i == 0 else f"m{i}_{layer.name}").set_weights(layer.get_weights())
        k, b = clone.layers[-1].get_weights()
        a_i, b_i = (1.0, 0.0) if affine is None else (float(affine[i][0]), float(affine[i][1]))
        clone.layers[-1].set_weights([k * a_i / len(members), (b * a_i + b_i) / len(members)])
        outs.append(clone.outputs[0])
    if len(outs) == 1:  # one calibrated member
        return keras.Model(inp, outs[0], name=name)
    return keras.Model(inp, keras.layers.Add(name="ensemble_mean")(outs), name=name)


def build_pad_cnn(input_shape: tuple[int, int, int] = CLASSIFIER_INPUT, *, width: int = 16,
                  convs_per_block: int = 1, learning_rate: float = 1e-3, dropout: float = 0.3,
                  compile: bool = True, alter_map: float = 0.0) -> Any:
    """Presentation-attack CNN: logit of "attack" (altered / spoof) vs bona fide.

    Five blocks (``width``·1, 2, 4, 8, 8 filters; one 3x3 conv each by default: ~40 MFLOPs per
    104×96 print, so it trains on a shared CPU), global average + max pooling (alterations and
    spoof artefacts are local), one logit. See :func:`build_print_cnn`. ``alter_map`` > 0 adds the
    ``alter_map`` output on block 3 (8x8-pixel cells: 13x12 on a 104x96 print), its loss weighted
    ``alter_map``: training then also says *where* a print is altered.
    """
    return build_print_cnn(input_shape, widths=(width, 2 * width, 4 * width, 8 * width, 8 * width),
                           convs_per_block=convs_per_block, dropout=dropout, global_max=True,
                           learning_rate=learning_rate, compile=compile, name="pad_cnn",
                           map_block=PAD_MAP_BLOCK if alter_map > 0 else None, map_weight=alter_map)


def build_gender_cnn(input_shape: tuple[int, int, int] = CLASSIFIER_INPUT, *, width: int = 16,
                     convs_per_block: int = 1, learning_rate: float = 1e-3, dropout: float = 0.4,
                     compile: bool = True) -> Any:
    """Gender CNN: logit of "female". Same trunk as :func:`build_pad_cnn`; global average pooling
    only (ridge density/texture is a whole-print property), heavier dropout."""
    return build_print_cnn(input_shape, widths=(width, 2 * width, 4 * width, 8 * width, 8 * width),
                           convs_per_block=convs_per_block, dropout=dropout, global_max=False,
                           learning_rate=learning_rate, compile=compile, name="gender_cnn")


def build_reference_gender_cnn(input_shape: tuple[int, int, int] = (96, 96, 1), *, learning_rate: float = 1e-3,
                               compile: bool = True) -> Any:
    """The issue's reference gender model for comparison: 2 conv layers (32, 64; 3x3, ReLU,
    max-pool), dense 128, one logit (the reference used a sigmoid with a bare 0.5 threshold)."""
    import keras
    from keras import layers

    inp = keras.Input(shape=input_shape, name="print")
    x = layers.Conv2D(32, 3, activation="relu", name="c1")(inp)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu", name="last_conv_relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(1, name="logit")(x)
    model = keras.Model(inp, out, name="reference_gender_cnn")
    if compile:
        _compile_binary(model, learning_rate)
    return model


def build_pad_patch_cnn(input_shape: tuple[int, int, int] = (96, 96, 1), *, width: int = 16,
                        convs_per_block: int = 1, learning_rate: float = 1e-3, dropout: float = 0.3,
                        compile: bool = True) -> Any:
    """Material-spoof PAD on one texture patch (e.g. 96×96 px at 1000 dpi): logit of "spoof".

    A strided 5x5 stem (``width`` filters) then three blocks (2, 4, 4 × ``width``; 3x3 conv, batch
    norm, ReLU, 2x2 max-pool between blocks), global average + max pooling, one logit: about
    6 MFLOPs per 96×96 patch, so ~50 patches of a 1000×1000 print cost a few ms. The print's score is
    the mean patch logit (fpstation.ml.classifiers.patches.fuse_logits).
    """
    import keras
    from keras import layers

    inp = keras.Input(shape=input_shape, name="patch")
    x = layers.Conv2D(width, 5, strides=2, padding="same", use_bias=False, name="stem_conv")(inp)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    widths = (2 * width, 4 * width, 4 * width)
    for b, w in enumerate(widths):
        x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
        for c in range(convs_per_block):
            last = b == len(widths) - 1 and c == convs_per_block - 1
            x = _conv_bn(x, w, "last_conv" if last else f"b{b}c{c}")
    pooled = layers.Concatenate(name="pool_concat")([layers.GlobalAveragePooling2D(name="gap")(x),
                                                     layers.GlobalMaxPooling2D(name="gmp")(x)])
    pooled = layers.Dropout(dropout, name="dropout")(pooled)
    out = layers.Dense(1, name="logit")(pooled)
    model = keras.Model(inp, out, name="pad_patch_cnn")
    if compile:
        _compile_binary(model, learning_rate)
    return model


#: classifier builders by the architecture name used in Hyper.architecture and model cards
CLASSIFIER_BUILDERS = {"pad_cnn": build_pad_cnn, "gender_cnn": build_gender_cnn,
                       "reference_gender_cnn": build_reference_gender_cnn,
                       "pad_patch_cnn": build_pad_patch_cnn}


def _compile_binary(model: Any, learning_rate: float) -> None:
    """Adam + binary cross-entropy on one logit, with AUC and accuracy (every classifier here)."""
    compile_print_cnn(model, learning_rate)
