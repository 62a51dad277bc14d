"""Adapter template: connect YOUR implementation to the numgpt spec.

Copy this file, fill in the functions for the milestones you have built, and run

    python -m pytest spec --impl path/to/your_adapter.py

Every function here raises ``NotImplementedError``; the spec reports a test that reaches one as
"not implemented" (never a crash), so you can fill the adapter in milestone by milestone.
``spec/reference_adapter.py`` is this file filled in for numgpt, the reference implementation.

Conventions used throughout:

* "array" means a NumPy ``ndarray``. Inputs and weights are passed in as arrays; the spec converts
  what you return with ``np.asarray`` (or ``to_numpy`` for your tensors).
* "T" is your tensor type, whatever it is. The spec never looks inside it: it makes tensors with
  ``tensor()``, reads them with ``to_numpy()``, and drives autograd with ``backward()`` and
  ``grad()``. So any autograd engine can be graded, whatever its class design.
* dtypes: the spec checks gradients in float64 and training paths in float32. An op must keep
  its input's floating dtype (float32 in, float32 out; no silent upcast to float64).
* "a clear error" (bad input): any of ValueError, TypeError, RuntimeError, IndexError, KeyError
  (PyTorch's RuntimeError for a shape mismatch is fine) whose MESSAGE names the problem: both
  shapes of a mismatch, the dtype, the parameter, the offending id. An ``assert`` is not a clear
  error. The one rule is ``spec/numerics.assert_clear_error``.
* Python's builtins: this module defines contracts named ``sum``, ``max`` and ``pow``, which shadow
  the builtins for the rest of the module. Where your adapter needs the builtins, reach them
  through ``import builtins`` (``builtins.sum(...)``, ``builtins.max(...)``), or call your
  library's own functions under another name (``import numpy as np``: ``np.sum``).
"""
from __future__ import annotations

from typing import Any, ContextManager, Sequence

import numpy as np

# =============================================================================================
# M1: Tensor + autograd
# =============================================================================================
# The tensor protocol.


def tensor(data: np.ndarray, requires_grad: bool = False) -> Any:
    """Make a tensor T holding ``data`` (keep its shape and dtype).

    With ``requires_grad=True`` the tensor is a leaf whose gradient ``backward`` will fill.
    Integer data with ``requires_grad=True`` must raise a clear error naming the dtype problem
    (e.g. "requires_grad needs floating-point data, got int64").
    """
    raise NotImplementedError


def to_numpy(t: Any) -> np.ndarray:
    """The value of tensor ``t`` as a NumPy array (same shape and dtype)."""
    raise NotImplementedError


def backward(t: Any, grad: np.ndarray | None = None) -> None:
    """Run reverse-mode autodiff from ``t``.

    ``grad`` is the upstream gradient dL/dt (same shape as ``t``); ``None`` is allowed only for a
    single-element ``t`` and means 1. Gradients ACCUMULATE into leaves (+=) across calls until
    ``zero_grad``. A leaf's gradient is an array of its OWN: copy the first gradient it receives
    (storing the upstream array itself aliases it, e.g. with the caller's ``grad`` or with the
    other operand of an add, and the next in-place += corrupts both); never write into ``grad``.
    Calling it on a tensor that does not require grad, or with ``grad=None`` on a tensor of more
    than one element, must raise a clear error saying so. Must work on a chain of 100,000 ops (no
    recursion limit).
    """
    raise NotImplementedError


def grad(t: Any) -> np.ndarray | None:
    """The accumulated gradient of leaf ``t`` as an array of ``t``'s shape and dtype (a float32
    leaf has a float32 gradient), or None if no backward pass has reached it since it was created
    or zeroed. Only leaves are asked for their gradient."""
    raise NotImplementedError


def zero_grad(t: Any) -> None:
    """Reset the gradient of leaf ``t`` (afterwards ``grad(t)`` is None or zeros of ``t``'s shape).
    On a leaf that never had a gradient (``grad(t)`` is None) it does nothing: not an error."""
    raise NotImplementedError


def no_grad() -> ContextManager:
    """A context manager under which ops build no graph: their results do not require grad.
    Leaving the block restores the previous grad mode, also when an exception leaves it (restore
    in a ``finally:`` or ``__exit__``, not after the ``yield``)."""
    raise NotImplementedError


def detach(t: Any) -> Any:
    """A tensor with ``t``'s value that is cut from the graph (no gradient flows through it)."""
    raise NotImplementedError


# The ops. Binary ops follow NumPy broadcasting; ``b`` is a tensor or a Python float.
# Each must be differentiable w.r.t. every tensor argument.


def add(a: Any, b: Any) -> Any:
    """a + b (broadcasting)."""
    raise NotImplementedError


def sub(a: Any, b: Any) -> Any:
    """a - b (broadcasting)."""
    raise NotImplementedError


def mul(a: Any, b: Any) -> Any:
    """a * b (broadcasting)."""
    raise NotImplementedError


def div(a: Any, b: Any) -> Any:
    """a / b (broadcasting)."""
    raise NotImplementedError


def neg(a: Any) -> Any:
    """-a."""
    raise NotImplementedError


def pow(a: Any, exponent: float) -> Any:
    """a ** exponent for a Python float exponent (the spec uses a > 0 for non-integer exponents).
    For integer-valued exponents the spec includes a = 0 and a < 0: the gradient
    ``exponent * a ** (exponent - 1)`` is finite there (not ``exponent * out / a``, 0/0 at a = 0)."""
    raise NotImplementedError


def matmul(a: Any, b: Any) -> Any:
    """a @ b with NumPy semantics: 2-D @ 2-D, and batched N-D with broadcast batch dims,
    e.g. (B, T, C) @ (C, D) or (B, H, T, d) @ (B, H, d, T). A shape mismatch must raise a clear
    error whose message names both shapes."""
    raise NotImplementedError


def sum(a: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` (None: all; int or tuple; negative axes allowed), as ``np.sum``."""
    raise NotImplementedError


def mean(a: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """Mean over ``axis``, as ``np.mean``."""
    raise NotImplementedError


def max(a: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """Maximum over ``axis``, as ``np.max``. Ties: the gradient of a slice is split EVENLY among
    the n elements equal to its maximum (each gets g / n), as ``torch.amax`` does (``torch.max(x,
    dim)`` sends it to one index instead: a PyTorch adapter uses ``torch.amax``)."""
    raise NotImplementedError


def relu(a: Any) -> Any:
    """max(a, 0). The spec avoids evaluating the gradient exactly at 0."""
    raise NotImplementedError


def exp(a: Any) -> Any:
    """e ** a."""
    raise NotImplementedError


def log(a: Any) -> Any:
    """Natural log (the spec passes a > 0)."""
    raise NotImplementedError


def tanh(a: Any) -> Any:
    """Hyperbolic tangent."""
    raise NotImplementedError


def reshape(a: Any, shape: tuple[int, ...]) -> Any:
    """``a`` with a new shape (same size; one -1 allowed), as ``np.reshape``."""
    raise NotImplementedError


def transpose(a: Any, axes: tuple[int, ...] | None = None) -> Any:
    """Permute dims as ``np.transpose`` (None reverses them; negative axes allowed, e.g. (-1, 0, -2):
    the backward applies the inverse of the normalised permutation)."""
    raise NotImplementedError


def getitem(a: Any, index: Any) -> Any:
    """``a[index]`` with NumPy semantics for ints, slices (with steps, NEGATIVE steps included, e.g.
    ``a[:, ::-2]``: PyTorch tensors reject those, so a PyTorch adapter flips first) and integer
    arrays. Repeated integer indices must ACCUMULATE their gradients (scatter-add)."""
    raise NotImplementedError


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along an existing axis, as ``np.concatenate``."""
    raise NotImplementedError


def stack(tensors: Sequence[Any], axis: int = 0) -> Any:
    """Join same-shape tensors along a new axis, as ``np.stack``."""
    raise NotImplementedError


# =============================================================================================
# M2: layers (nn)
# =============================================================================================
# Weights and inputs arrive as tensors T (made with ``tensor()``), so the spec can take gradients
# w.r.t. them; integer ids/targets arrive as NumPy int arrays. Every op keeps its input's
# floating dtype (float32 in, float32 out) and must be differentiable w.r.t. every T argument.
# Linear weights use the layout (in_features, out_features): y = x @ W + b (GPT-2's Conv1D).


def linear(x: Any, weight: Any, bias: Any | None = None) -> Any:
    """y = x @ weight + bias.

    x (..., in) with any number of leading dims, weight (in, out), bias (out,) or None;
    returns (..., out). ``x.shape[-1] != weight.shape[0]`` must raise a clear error naming both
    shapes.
    """
    raise NotImplementedError


def layer_norm(x: Any, weight: Any | None, bias: Any | None, eps: float = 1e-5) -> Any:
    """LayerNorm over the last dim: (x - mean) / sqrt(var + eps) * weight + bias.

    x (..., C); weight (C,) or None; bias (C,) or None, each independently (weight None with a
    bias gives xhat + bias). ``var`` is the BIASED variance (divide by C), as in PyTorch and GPT-2,
    and eps is added INSIDE the sqrt. A constant row normalises to 0 (then + bias), never NaN.
    """
    raise NotImplementedError


def embedding(ids: np.ndarray, weight: Any) -> Any:
    """Row lookup: out[...] = weight[ids[...]].

    ids: int array of any shape (...), weight (V, C); returns (..., C). The gradient w.r.t.
    weight scatter-ADDS: an id used n times receives the sum of its n upstream rows (``np.add.at``;
    ``dW[ids] += g`` keeps only the last of repeated ids). An id outside [0, V) must raise a clear
    error naming the id; a NEGATIVE id too (NumPy indexing would silently wrap it to row V + id).
    """
    raise NotImplementedError


def gelu(x: Any) -> Any:
    """GPT-2's GELU, the tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    Elementwise, any shape. (The exact erf form differs by up to ~5e-4 and fails the spec.)
    """
    raise NotImplementedError


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``axis`` (any shape, negative axes allowed).

    Must be stable: finite and exact for inputs of magnitude 1e4 (subtract the max first).
    """
    raise NotImplementedError


def log_softmax(x: Any, axis: int = -1) -> Any:
    """log(softmax(x)) along ``axis``, computed stably (x - max - log(sum(exp(x - max))))."""
    raise NotImplementedError


def cross_entropy(logits: Any, targets: np.ndarray, ignore_index: int = -1) -> Any:
    """Mean negative log-likelihood: a scalar T (shape ()).

    logits (..., V), targets int array (...) (exactly the leading dims of logits, else
    ValueError naming both shapes; no silent flattening). The mean is over the
    positions whose target != ``ignore_index``; ignored positions contribute neither to the sum
    nor to the count, and get zero gradient. Finite loss and gradients for logits of magnitude
    1e4 (fuse with log-softmax). A target outside [0, V) (other than ignore_index) must raise a
    clear error naming the target. If every target is ignored the result is undefined (not tested).
    """
    raise NotImplementedError


def dropout(x: Any, p: float, training: bool, seed: int | None) -> Any:
    """Inverted dropout: each element is kept with probability 1 - p and then scaled by 1/(1 - p),
    else set to 0. The gradient is the same mask times 1/(1 - p).

    ``training=False`` or ``p == 0``: identity (the values of x, unchanged); ``p == 1`` drops
    everything (all zeros). The mask depends only on ``seed`` (and the shape): the same seed gives
    the same mask, different seeds different masks. ``seed=None`` means "not reproducible": draw
    the mask from fresh entropy (``np.random.default_rng(None)``, or your library's global
    generator), so two calls differ; the spec always passes an int seed when ``training`` is True.
    ``p`` outside [0, 1] must raise a clear error naming p or its value.
    """
    raise NotImplementedError


# =============================================================================================
# M3: attention
# =============================================================================================


def scaled_dot_product_attention(q: Any, k: Any, v: Any, causal: bool = False,
                                 mask: np.ndarray | None = None) -> Any:
    """softmax(q @ k^T / sqrt(hs) + masking) @ v.

    q (..., Tq, hs), k (..., Tk, hs), v (..., Tk, hs), any number of leading dims (none, (B,),
    (B, H), ...); returns (..., Tq, hs). The scale is 1/sqrt(hs) (hs = q.shape[-1]).
    ``mask``: bool array broadcastable to (..., Tq, Tk), True = may attend (PyTorch's
    ``key_padding_mask`` uses the opposite convention), e.g. (Tq, Tk), or a key-padding mask
    (B, 1, 1, Tk) for q (B, H, Tq, hs). ``causal=True``:
    query i sits at absolute position Tk - Tq + i and attends only to keys j <= that position
    (for Tq == Tk: j <= i). Masked scores are -inf before the softmax. A query row with NO allowed
    key has output 0 and passes no gradient (never NaN). q and k with different hs must raise a
    clear error naming both shapes.
    """
    raise NotImplementedError


def causal_self_attention(x: Any, n_head: int, c_attn_weight: Any, c_attn_bias: Any | None,
                          c_proj_weight: Any, c_proj_bias: Any | None) -> Any:
    """Multi-head causal self-attention (GPT-2's), x (B, T, C) -> (B, T, C).

    qkv = x @ c_attn_weight (C, 3C) + c_attn_bias (3C,); q, k, v are qkv[..., :C], [C:2C],
    [2C:] (in that order along the output dim); head h of each is the contiguous column range
    [h*hs, (h+1)*hs) with hs = C // n_head. Each head runs causal scaled_dot_product_attention;
    the heads are concatenated back in order to (B, T, C) and projected with c_proj_weight (C, C)
    + c_proj_bias (C,). Either bias may be None independently of the other (the spec passes each
    combination). No dropout.
    """
    raise NotImplementedError


# =============================================================================================
# M4: transformer / GPT
# =============================================================================================
# config dicts carry: block_size, vocab_size, n_layer, n_head, n_embd, dropout, bias.
# GPT-2 parameter names (with bias=False every ``.bias`` entry is absent):
#   transformer.wte.weight (V, C), transformer.wpe.weight (block_size, C),
#   transformer.h.{i}.ln_1.{weight,bias} (C,), .attn.c_attn.weight (C, 3C), .attn.c_attn.bias (3C,),
#   .attn.c_proj.weight (C, C), .attn.c_proj.bias (C,), .ln_2.{weight,bias} (C,),
#   .mlp.c_fc.weight (C, 4C), .mlp.c_fc.bias (4C,), .mlp.c_proj.weight (4C, C), .mlp.c_proj.bias (C,),
#   transformer.ln_f.{weight,bias} (C,).
# The lm_head is TIED to transformer.wte.weight (logits = x @ wte^T) and has no entry of its own.


def transformer_block(x: Any, n_head: int, params: dict[str, Any]) -> Any:
    """A pre-LayerNorm transformer block, x (B, T, C) -> (B, T, C):

        x = x + causal_self_attention(layer_norm(x, ln_1), ...attn.c_attn..., ...attn.c_proj...)
        x = x + gelu(layer_norm(x, ln_2) @ mlp.c_fc.weight + mlp.c_fc.bias) @ mlp.c_proj.weight + mlp.c_proj.bias

    ``params`` maps the block-relative GPT-2 names (``ln_1.weight``, ``ln_1.bias``,
    ``attn.c_attn.weight``, ``attn.c_attn.bias``, ``attn.c_proj.weight``, ``attn.c_proj.bias``,
    ``ln_2.weight``, ``ln_2.bias``, ``mlp.c_fc.weight``, ``mlp.c_fc.bias``, ``mlp.c_proj.weight``,
    ``mlp.c_proj.bias``) to tensors T; gradients must reach every one of them. No dropout.
    """
    raise NotImplementedError


def gpt_init(config: dict, seed: int) -> dict[str, np.ndarray]:
    """A freshly initialised GPT's state dict: GPT-2 name -> array (floating dtype).

    GPT-2 init: every Linear weight and both embeddings ~ N(0, 0.02^2), except the residual
    projections (names ending ``c_proj.weight``) ~ N(0, (0.02 / sqrt(2 * n_layer))^2); all biases
    0; LayerNorm weights 1. Every weight is its own independent draw (blocks must not share their
    initial weights: draw from one generator in turn, never re-seed it per layer). Same seed ->
    identical arrays; different seeds -> different ones.
    """
    raise NotImplementedError


def gpt_model(config: dict, state_dict: dict[str, np.ndarray], dtype: Any = np.float64) -> Any:
    """A GPT model handle (anything: the spec only passes it back to gpt_parameters/gpt_forward)
    built from ``config`` with its parameters set from ``state_dict`` (GPT-2 names), cast to
    ``dtype`` (np.float64 or np.float32). A missing key, an unexpected key or a wrong shape must
    raise a clear error naming the parameter. A model with ``config["dropout"] > 0`` applies
    dropout in training mode and none in eval mode (see ``gpt_train_mode``); all other contracts
    build models with dropout 0.0.
    """
    raise NotImplementedError


def gpt_parameters(model: Any) -> dict[str, Any]:
    """The model's parameters as tensors T, by GPT-2 name (exactly the names of gpt_init: the tied
    lm_head is NOT listed separately). After ``backward(loss)``, ``grad(params[name])`` is
    d loss / d parameter (for the tied weight: the embedding AND lm_head contributions).

    These must be the LIVE leaves the model computes with, the very tensors an optimizer updates
    in place (M6 trains through them): not copies, not a state_dict of detached values. Their
    values and gradients are in the documented layout: ``attn.c_attn`` FUSED (C, 3C), Linear
    weights (in, out). An implementation stored differently (PyTorch's nn.Linear is (out, in);
    separate q/k/v projections) cannot hand out a transposed or concatenated view, because a view
    is not a leaf (its grad stays None) and writing into it does not reach the model: store the
    parameters in the documented layout and compute with them (e.g. ``x @ W`` instead of
    ``nn.Linear``), or keep layout-converting wrappers whose values and grads stay in sync."""
    raise NotImplementedError


def gpt_forward(model: Any, idx: np.ndarray, targets: np.ndarray | None = None) -> tuple[Any, Any | None]:
    """Run the GPT on token ids ``idx`` (B, T) (int array, T <= block_size).

    Returns (logits, loss): logits T (B, T, vocab_size) for EVERY position, with or without
    targets (pitfall: nanoGPT's forward computes only the last position, (B, 1, V), when
    targets is None, an inference shortcut; do not copy it); loss = the scalar T
    cross_entropy(logits, targets, ignore_index=-1) if ``targets`` (B, T) is given, else None.
    Forward: x = wte[idx] + wpe[0..T-1]; x = block_i(x) for each layer; x = layer_norm(x, ln_f);
    logits = x @ wte^T. Causal: logits at position t depend only on idx[:, :t+1]. T > block_size
    must raise a clear error naming T and block_size; an id outside [0, vocab_size) a clear error
    naming it.
    """
    raise NotImplementedError


def gpt_train_mode(model: Any, training: bool) -> None:
    """Switch the model to training mode (``training=True``: dropout active, as ``model.train()``)
    or eval mode (``False``: every dropout, the attention weights' included, is the identity, as
    ``model.eval()``)."""
    raise NotImplementedError


# =============================================================================================
# M5: BPE tokenizer
# =============================================================================================
# Byte-level BPE as in GPT-2. The spec assumes GPT-2's split pattern (tiktoken's r50k form):
#     '(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s
# (\p{L} letters, \p{N} numbers, \s Unicode White_Space; contractions are case-sensitive;
# "$" is the end of the text). Byte strings are Python ``bytes``; text is ``str``. Pitfalls of
# Python's ``re``, which has no \p{..}: its \d is only Nd (\p{N} also holds '½', 'Ⅻ', '²'), its \s
# also matches U+001C..U+001F (White_Space does not), and letters beyond U+FFFF ('𝔘', '𐐀') are
# \p{L} too. The spec sees chunk boundaries through merges that span them (chunk lists frozen
# from the ``regex`` package: spec/fixtures/tokenizer/chunks.json).
#
# A tokenizer object (returned by get_tokenizer / get_cl100k_tokenizer) must offer:
#   encode(text: str, allowed_special: set[str] | "all" = set()) -> list[int]
#       tiktoken semantics: a registered special token inside ``text`` that is not allowed raises a
#       clear error (spec/numerics.py, CLEAR_ERROR_TYPES; tiktoken raises ValueError) whose message
#       names the token (never silently encoded either way); allowed ones become their single id;
#       where two allowed specials overlap at one position the LONGER one wins. Each call's
#       allowed set is its own (cache a special-token matcher per allowed set, if at all).
#   decode(ids: Sequence[int]) -> str
#       concatenated bytes decoded as UTF-8 with invalid sequences replaced by U+FFFD; never raises
#       on them (it may raise ValueError for an id that is not in the vocab).
#   encode_iterable(iterable: Iterable[str]) -> Iterator[int]
#       lazily yields the ids of "".join(iterable), same defaults as encode; must equal
#       encode("".join(pieces)) whenever the pieces end at line ends (e.g. the lines of a file),
#       and use bounded memory (it may hold back a little text until it knows a chunk is complete;
#       a chunk cache must have a bound: the spec streams hundreds of thousands of distinct words).


def train_bpe(input_path: str, vocab_size: int, special_tokens: list[str]) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train a byte-level BPE on the UTF-8 text file ``input_path`` (read without newline
    translation). Returns ``(vocab, merges)``:

    * ``merges``: list of ``(left, right)`` byte-string pairs in the order learned;
    * ``vocab``: id -> bytes, holding the 256 single bytes, one token ``left + right`` per merge,
      and each special token's UTF-8 bytes; ``len(vocab) == vocab_size`` (fewer only when no
      pair is left to merge). The spec checks the set of byte strings, not the id numbering.

    Algorithm the spec assumes: cut the text at the special tokens, matched literally (they are
    removed; no merge crosses them; "[SEP]" is not a regex), split each part with GPT-2's pattern,
    then repeatedly merge the most frequent adjacent pair (counted over all chunks, with
    multiplicity). A merge replaces non-overlapping occurrences left to right ("aaa" -> "aa", "a").
    The spec checks this by replaying your merges on frozen chunk counts (each must be a most
    frequent pair at its step). TIE-BREAK, a documented convention checked by its own tests
    (``test_train_tie_break*``): among equally frequent pairs take the lexicographically GREATEST
    ``(bytes(left), bytes(right))`` (compare left first, then right; Python ``max`` over tuples of
    bytes). A valid BPE with another tie-break fails only those.
    """
    raise NotImplementedError


def get_tokenizer(vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]], special_tokens: list[str] | None = None) -> Any:
    """A tokenizer object (see above) for this vocab and merges, with GPT-2's split pattern.

    Encoding a chunk: start from its bytes' ids, and while an adjacent pair is among ``merges``,
    merge the pair with the LOWEST rank (position in ``merges``) at every non-overlapping place it
    occurs, left to right (GPT-2's procedure). Ids come from ``vocab``. A special token whose
    bytes are in ``vocab`` keeps that id; one that is not gets the next free id.
    """
    raise NotImplementedError


def get_cl100k_tokenizer(ranks_path: str, special_tokens: dict[str, int]) -> Any:
    r"""Interop tier: a tokenizer object from a tiktoken rank file (``cl100k_base.tiktoken``: one
    ``<base64 token> <rank>`` per line; the rank is the id) with GPT-4's split pattern
        '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s
    and the given special tokens. Its ids must equal tiktoken's cl100k_base ids."""
    raise NotImplementedError


# =============================================================================================
# M6: training
# =============================================================================================
# Optimizer handles are opaque: the spec passes them back to optimizer_step / optimizer_zero_grad /
# optimizer_set_lr / save_checkpoint. Gradients reach the optimizer through your tensors' grads
# (filled by ``backward``). Parameters keep their dtype through training and checkpoints: the spec
# trains float32 models (a float32 parameter must stay float32), and round-trips float64 ones too.


def adamw(params: dict[str, Any], lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
          weight_decay: float = 0.0) -> Any:
    """An AdamW optimizer over the named tensors ``params`` (name -> T), as torch.optim.AdamW:
    at step t = 1, 2, ... with g = grad(p):

        p <- p * (1 - lr * wd)                   (decoupled weight decay, never added to g)
        m <- beta1 * m + (1 - beta1) * g;  v <- beta2 * v + (1 - beta2) * g^2
        p <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    with wd = ``weight_decay`` for parameters of 2+ dims (weights, embeddings) and wd = 0 for
    1-D parameters (biases, LayerNorm weights): GPT-2's parameter groups. Updates ``params`` in
    place (the same tensor objects keep the new values).

    Pitfalls: ``torch.optim.AdamW(params, weight_decay=wd)`` decays EVERY tensor it is given, so pass
    two param groups ({"params": 2+-dim, "weight_decay": wd}, {"params": 1-D, "weight_decay": 0}).
    eps goes outside the square root, and the decay is multiplied by the current lr and applied
    before the Adam step. The step count t starts at 1 on the first ``optimizer_step``.
    """
    raise NotImplementedError


def optimizer_step(optimizer: Any) -> None:
    """One update of every parameter from its current gradient."""
    raise NotImplementedError


def optimizer_zero_grad(optimizer: Any) -> None:
    """Clear the gradients of the optimizer's parameters (afterwards grad is None or zeros)."""
    raise NotImplementedError


def optimizer_set_lr(optimizer: Any, lr: float) -> None:
    """Use learning rate ``lr`` for the following steps (what a schedule does before each step),
    in every parameter group (torch: ``for g in opt.param_groups: g["lr"] = lr``); the decay uses
    it too."""
    raise NotImplementedError


def lr_schedule(step: int, warmup_iters: int, lr_decay_iters: int, max_lr: float, min_lr: float) -> float:
    """The learning rate of the update with 0-based index ``step`` (nanoGPT's get_lr):

        max_lr * (step + 1) / (warmup_iters + 1)                        if step < warmup_iters
        min_lr                                                           if step >= lr_decay_iters
        min_lr + 0.5 * (1 + cos(pi * r)) * (max_lr - min_lr),  r = (step - warmup_iters) / (lr_decay_iters - warmup_iters)

    Returns a float. Note the warmup starts at max_lr / (warmup_iters + 1), not at 0, and reaches
    max_lr exactly at step = warmup_iters; the cosine ends at min_lr, not at 0.
    """
    raise NotImplementedError


def clip_grad_norm(params: Sequence[Any], max_norm: float) -> float:
    """Clip the gradients of ``params`` by their global L2 norm and return the norm BEFORE clipping.

    norm = sqrt(sum over params of sum(grad^2)); if norm > max_norm every gradient is multiplied
    in place by max_norm / (norm + 1e-6); otherwise nothing changes. Parameters without a gradient
    are skipped.

    Return the norm as a number: a Python float, a NumPy scalar, or a one-element tensor that
    ``float()`` converts (``torch.nn.utils.clip_grad_norm_`` returns a 0-d tensor: fine). Not None:
    the spec reports "returned None, expected the total norm".
    """
    raise NotImplementedError


def get_batch(data: np.ndarray, batch_size: int, block_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` random windows of the 1-D token array ``data`` (e.g. a uint16 memmap):
    x[b] = data[i_b : i_b + block_size], y[b] = data[i_b + 1 : i_b + block_size + 1], both int64
    arrays (batch_size, block_size), with every start i_b in [0, len(data) - block_size) equally
    likely. Deterministic in ``seed``.

    Return a pair of NumPy arrays (not tensors). Draw the starts as integers, e.g.
    ``np.random.default_rng(seed).integers(0, len(data) - block_size, size=batch_size)`` (torch:
    ``torch.randint(len(data) - block_size, (batch_size,), generator=torch.Generator().manual_seed(seed))``):
    the spec tests their frequencies with a chi-square test, so a start rounded from a float
    (``round(u * (n - 1))``, which gives the two end starts half the weight) fails, and so does a
    range that misses the last start (its window's last target is ``data[-1]``).
    """
    raise NotImplementedError


def save_checkpoint(path: str, model: Any, optimizer: Any, step: int) -> None:
    """Save a ``gpt_model`` handle, its ``adamw`` optimizer and ``step`` to ``path`` (one file):
    the model's config and dtype with its parameters, and the optimizer's hyper-parameters (lr,
    betas, eps, weight decay per group), moments m and v and step count t."""
    raise NotImplementedError


def load_checkpoint(path: str) -> tuple[Any, Any, int]:
    """``(model, optimizer, step)`` from a file written by ``save_checkpoint``: a model handle for
    gpt_forward/gpt_parameters and an optimizer over ITS parameters, such that training continues
    bit-identically to the run that was saved. The model comes back in the dtype it was saved in
    (a float64 model is not rebuilt as float32), ``step`` is the saved int, and the optimizer
    continues from the saved t (its bias correction does not restart). A truncated or foreign file
    must raise a clear error (spec/numerics.CLEAR_ERROR_TYPES, e.g. ValueError) whose message
    names the file.
    """
    raise NotImplementedError



# =============================================================================================
# M7: sampling
# =============================================================================================
# The filter pipeline, in this order: temperature (0 = greedy), top-k, softmax, top-p. Ties are
# broken deterministically: among equal logits (or probabilities) the LOWER token id ranks first.
# Invalid parameters raise a clear error (ValueError; any of spec/numerics.CLEAR_ERROR_TYPES) whose
# message names the parameter: temperature < 0 or NaN, top_k < 1, top_p outside (0, 1]. Results are
# NumPy arrays.


def filter_logits(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> np.ndarray:
    """The distribution to sample the next token from, as float probabilities of logits' shape.

    logits: float array (V,) or (B, V) (one row per sequence; do not modify it).
    * temperature 0: one-hot at the argmax (lowest id among ties); top_k/top_p change nothing.
    * otherwise: divide the logits by temperature; top_k (None = off): keep exactly the
      min(k, V) highest (ties: lower ids); softmax; top_p (None = off): walk the tokens from the
      most probable down and keep every token up to AND INCLUDING the one whose running total
      first reaches p (so at least one token survives); renormalise. Each row sums to 1.

    The top-p rule at an exact boundary: keep the SMALLEST set whose mass is >= p. When the running
    total equals p exactly (probabilities [0.5, 0.25, 0.25] and p = 0.75), stop there (ids 0 and 1),
    i.e. count the tokens whose running total is < p, plus one; "<= p" keeps one token too many.
    A (B, V) batch is filtered row by row: the argmax along the last axis (``np.argmax(x, axis=-1)``;
    a bare ``np.argmax(x)`` flattens the batch), top-k and top-p per row. Top-k keeps exactly k
    tokens even among ties (nanoGPT's ``logits < v[:, [-1]]`` threshold keeps every tied token).
    Temperature 0 is the greedy branch, not a division by a small epsilon (which splits ties).
    """
    raise NotImplementedError


def sample(logits: np.ndarray, num_samples: int, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, seed: int = 0) -> np.ndarray:
    """``num_samples`` independent draws (int array (num_samples,)) of the next token from 1-D
    ``logits`` (V,), each from the ``filter_logits`` distribution, using one random generator
    seeded with ``seed`` (the same seed gives the same draws). Temperature 0 always gives the
    argmax. Tokens removed by the filters must never be drawn."""
    raise NotImplementedError


def utf8_stream(chunks: Sequence[bytes]) -> list[str]:
    r"""Decode UTF-8 bytes that arrive in ``chunks`` (as a byte-level tokenizer emits them).

    Returns ``len(chunks) + 1`` strings: the text completed by each chunk (a character split across
    chunks appears, whole, in the piece of the chunk that completes it; "" while incomplete), then
    the flush at the end of the stream. Invalid bytes, and a character still incomplete at the end,
    become U+FFFD; never raise.

    One U+FFFD per maximal invalid subsequence (Python's ``errors="replace"``): ``[b"ok\xff",
    b"\xe2\x82"]`` gives ``["ok\ufffd", "", "\ufffd"]``: the unfinished euro sign emits nothing in
    its chunk (no U+FFFD mid-stream: it may still be completed) and becomes U+FFFD in the final
    flush. ``codecs.getincrementaldecoder("utf-8")(errors="replace")`` does this: ``decode(chunk)``
    per chunk, then ``decode(b"", final=True)`` (forgetting the final call loses the flush).
    """
    raise NotImplementedError


# Generation runs on the M4 ``gpt_model`` handle. The model sees at most block_size tokens: a
# window ``seq[start:]`` of the sequence, whose start depends only on the sequence length n and on
# ``window_shift`` (s >= 1): start = 0 while n <= block_size, then the smallest multiple of s that
# leaves at most block_size tokens, ``s * ceil((n - block_size) / s)``. So s = 1 is nanoGPT's exact
# sliding window (always the last block_size tokens), and a larger s drops the oldest s tokens at
# once (the window then holds block_size - s + 1 .. block_size tokens), which lets a KV cache be
# re-filled once per s steps instead of every step. Whatever s, decoding with a KV cache must give
# the logits of recomputing the same window (float64: 1e-10).


def generate(model: Any, prompt_ids: np.ndarray, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             stop_tokens: Sequence[int] = (), use_cache: bool = True, window_shift: int = 1) -> np.ndarray:
    """Sample up to ``max_new_tokens`` tokens after ``prompt_ids`` (1-D int array).

    Returns a 1-D int array: the prompt followed by the new tokens. Each new token is drawn from
    ``filter_logits`` of the model's next-token logits on the window of the sequence given by
    ``window_shift`` (see above; 1 = the last block_size tokens). Same seed, same tokens, with or
    without the cache. Generation stops right after emitting a token in ``stop_tokens`` (that
    token included). A clear error (ValueError; naming the problem) for: an empty prompt, a prompt
    id outside [0, vocab_size) (name the id), max_new_tokens < 0, invalid filter parameters.
    ``seed=None``: draw from any unseeded generator (the spec passes a seed whenever it compares).
    Pitfalls: return the prompt too (a 1-D NumPy int array, not only the new tokens); with a KV
    cache, when the window moves every kept token gets a new position, so the cache must be
    re-filled from the new window, not shifted (a rolled cache keeps keys computed at the old
    positions).
    """
    raise NotImplementedError


def step_logits(model: Any, prompt_ids: np.ndarray, continuation_ids: np.ndarray,
                use_cache: bool = True, window_shift: int = 1) -> np.ndarray:
    """Teacher-forced decoding, the way ``generate`` computes logits: feed ``prompt_ids`` at once,
    then ``continuation_ids`` one token at a time (with the KV cache if ``use_cache``).

    Returns float array (len(continuation_ids) + 1, V): row j holds the next-token logits after
    the prompt and the first j continuation tokens, computed on the window given by
    ``window_shift`` (see above; 1 = the last block_size tokens).
    """
    raise NotImplementedError


# =============================================================================================
# M8: modern blocks (RMSNorm, SwiGLU, RoPE, grouped-query attention, a Llama-style model)
# =============================================================================================
# Weights and inputs are tensors T as in M2-M4 (float64 for the gradient checks, float32 in ->
# float32 out); positions are int arrays. Linear weights use Hugging Face's (out_features,
# in_features) layout, y = x @ W.T, as stored in a Llama checkpoint, so a loader copies arrays.
# No biases anywhere in M8.
#
# RoPE convention (Meta's Llama, interleaved): for head size hs the pairs are (x[..., 2i], x[..., 2i+1])
# for i in [0, hs/2), rotated by the angle pos * theta^(-2i/hs): (a, b) -> (a cos - b sin, a sin + b cos).
# Hugging Face checkpoints use "rotate_half" instead, pairing (x[i], x[i + hs/2]), with the rows of
# q_proj/k_proj permuted to match: within each head, HF row i and row i + hs/2 are Meta's rows 2i and
# 2i + 1. Loading HF weights into an interleaved implementation reorders those rows (spec/oracle.py,
# ``hf_rows_to_interleaved``); both layouts give the same attention scores.
# GQA: n_kv_head divides n_head; query head h uses kv head h // (n_head // n_kv_head) (HF's repeat_kv
# order); n_kv_head == n_head is multi-head, n_kv_head == 1 multi-query attention.
#
# Llama config dicts carry: block_size, vocab_size, n_layer, n_head, n_kv_head, n_embd, ffn_hidden
# (None: the rule below), rope_theta, norm_eps, dropout (0.0). Parameter names (HF LlamaForCausalLM):
#   model.embed_tokens.weight (V, C), model.layers.{i}.input_layernorm.weight (C,),
#   .self_attn.q_proj.weight (C, C), .self_attn.k_proj.weight (n_kv_head * hs, C), .self_attn.v_proj.weight
#   (n_kv_head * hs, C), .self_attn.o_proj.weight (C, C), .post_attention_layernorm.weight (C,),
#   .mlp.gate_proj.weight (H, C), .mlp.up_proj.weight (H, C), .mlp.down_proj.weight (C, H),
#   model.norm.weight (C,), lm_head.weight (V, C) (untied: its own entry).
# SwiGLU hidden size H: ffn_hidden if set, else 32 * ceil(2/3 * 4 * n_embd / 32) (2/3 of GPT-2's 4C,
# rounded UP to a multiple of 32; n_embd 768 -> 2048).


def rms_norm(x: Any, weight: Any, eps: float = 1e-5) -> Any:
    """RMSNorm over the last dim: x / sqrt(mean(x^2) + eps) * weight.

    x (..., C), weight (C,); returns (..., C) in x's dtype. eps goes INSIDE the root (not
    x / (sqrt(mean(x^2)) + eps)); no mean is subtracted and there is no bias.
    """
    raise NotImplementedError


def silu(x: Any) -> Any:
    """x * sigmoid(x), elementwise, any shape; finite for |x| up to 1e3 (no exp overflow)."""
    raise NotImplementedError


def swiglu(x: Any, w1: Any, w3: Any, w2: Any) -> Any:
    """The SwiGLU feed-forward w2(silu(w1 x) * w3 x): ``(silu(x @ w1.T) * (x @ w3.T)) @ w2.T``.

    x (..., C); w1 = gate_proj (H, C), w3 = up_proj (H, C), w2 = down_proj (C, H); returns (..., C).
    The silu goes on the GATE (w1), not on the up projection (w3).
    """
    raise NotImplementedError


def rope(x: Any, positions: np.ndarray, theta: float = 10000.0) -> Any:
    """Rotary position embedding of x (..., T, hs) (e.g. (B, n_head, T, hs)) at the absolute token
    positions ``positions`` (int array (T,); with a KV cache they start at the cache length, not 0).

    Meta's interleaved pairing (see above): out[..., t, 2i] = a cos - b sin, out[..., t, 2i+1] =
    a sin + b cos with (a, b) = (x[..., t, 2i], x[..., t, 2i+1]) and angle positions[t] *
    theta^(-2i/hs). hs is even; theta is a parameter (Llama 2: 10000; other models use other values).
    """
    raise NotImplementedError


def grouped_query_attention(q: Any, k: Any, v: Any, causal: bool = True) -> Any:
    """Attention with n_kv_head <= n_head key/value heads.

    q (B, n_head, Tq, hs), k and v (B, n_kv_head, Tk, hs), n_kv_head dividing n_head; returns
    (B, n_head, Tq, hs). Query head h attends with kv head h // (n_head // n_kv_head): the same as
    M3's scaled_dot_product_attention on k and v with each kv head repeated n_head // n_kv_head times
    IN PLACE (heads 0,0,1,1 for 4 over 2; not tiled 0,1,0,1). ``causal`` as in M3 (query i at
    absolute position Tk - Tq + i). Gradients reach k and v summed over the heads sharing them.
    """
    raise NotImplementedError


def llama_self_attention(x: Any, n_head: int, n_kv_head: int, q_proj: Any, k_proj: Any, v_proj: Any, o_proj: Any,
                         theta: float = 10000.0) -> Any:
    """Llama's causal self-attention of x (B, T, C) at positions 0..T-1 -> (B, T, C).

    q = x @ q_proj.T split into n_head heads of hs = C // n_head (head h: columns [h*hs, (h+1)*hs));
    k = x @ k_proj.T and v = x @ v_proj.T split into n_kv_head heads; rope(q) and rope(k) (NEVER v)
    with ``theta``; causal grouped_query_attention; heads merged in order; @ o_proj.T. Weights:
    q_proj (C, C), k_proj and v_proj (n_kv_head * hs, C), o_proj (C, C).
    """
    raise NotImplementedError


def llama_block(x: Any, n_head: int, n_kv_head: int, params: dict[str, Any], theta: float = 10000.0,
                eps: float = 1e-5) -> Any:
    """A pre-RMSNorm Llama block, x (B, T, C) -> (B, T, C):

        h = x + llama_self_attention(rms_norm(x, input_layernorm.weight, eps), ...)
        out = h + swiglu(rms_norm(h, post_attention_layernorm.weight, eps), gate_proj, up_proj, down_proj)

    ``params`` maps the block-relative HF names (``input_layernorm.weight``,
    ``self_attn.{q,k,v,o}_proj.weight``, ``post_attention_layernorm.weight``,
    ``mlp.{gate,up,down}_proj.weight``) to tensors T; gradients must reach every one.
    """
    raise NotImplementedError


def llama_init(config: dict, seed: int) -> dict[str, np.ndarray]:
    """A freshly initialised Llama-style model's state dict: HF name -> array, exactly the names and
    shapes above (the SwiGLU hidden rule; k/v projections of n_kv_head heads), RMSNorm weights 1,
    other weights random and finite. Same seed -> identical arrays; different seeds -> different."""
    raise NotImplementedError


def llama_model(config: dict, state_dict: dict[str, np.ndarray], dtype: Any = np.float64) -> Any:
    """A Llama-style model handle built from a Llama config and an HF-named ``state_dict``, cast to
    ``dtype``. The handle works with the M4 functions and M7 generation, unchanged in meaning:

    * ``gpt_parameters(model)``: the live leaves by HF name (lm_head.weight included: untied);
    * ``gpt_forward(model, idx, targets)``: (logits (B, T, V), loss); x = embed_tokens[idx] (no
      position embedding: positions enter through RoPE only), the blocks, rms_norm(model.norm),
      logits = x @ lm_head.weight.T; causal; T > block_size a clear error;
    * ``gpt_train_mode``; ``generate`` / ``step_logits``: the KV cache holds n_kv_head heads per
      layer, and the keys of token t are rotated at its absolute position in the window (the cache
      length when it is fed), so cached decoding equals recomputing the window (float64: 1e-10).

    A missing or unexpected key or a wrong shape: a clear error naming the parameter."""
    raise NotImplementedError
