class FastAttention(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  # TorchScript source of the fast attention kernel, compiled by libtorch when the module loads
  # (see TorchScriptKernel.java). Shapes: query (B, H, S, D), key (B, G, T, D), value (B, G, T, Dv),
  # mask broadcastable to (B, H, S, T) (bool: True = the key takes part; float: added), output
  # (B, H, S, Dv). Dtype codes are libtorch's ScalarType numbers: 15 is bfloat16.
  def forward(self: __torch__.FastAttention,
      query: Tensor,
      key: Tensor,
      value: Tensor,
      mask: Tensor,
      has_mask: bool,
      causal: bool,
      scale: float,
      softcap: float,
      bfloat16: bool,
      tile_rows: int) -> Tensor:
    out_dtype = query.dtype
    score_dtype = out_dtype
    factor = self.value_factor(value, key.size(2))
    if factor != 1.0:
      value = value / factor
    if bfloat16:
      score_dtype = 6
      query = query.to(15)
      key = key.to(15)
      value = value.to(15)
      if has_mask and mask.is_floating_point():
        # float32's extremes, such as the -3.4028235e38 of padding masks, lie beyond bfloat16's
        # largest value and would round to infinity: they are kept finite
        mask = torch.where(torch.isinf(mask), mask, torch.clamp(mask, -3.3895313892515355e38, 3.3895313892515355e38)).to(15)
    gqa = query.size(1) != key.size(1)
    fused = softcap == 0.0 and not (has_mask and causal)
    if fused and scale > 1.0:
      # libtorch's kernels may multiply the query and key by the scale, or by its square root,
      # before their product (its math kernel does, for D != Dv), which can overflow where
      # Q K^T scale does not. The tiled loop scales after the product unless every partial sum of
      # the product is bounded well within the type: D max|q| max|k| scale.
      bound = self.largest_magnitude(query) * self.largest_magnitude(key) * query.size(3) * scale
      fused = bound < self.largest(query.dtype) / 16.0
    if fused:
      # libtorch's fused CPU kernel: tiled (flash) softmax, nothing of size S x T is held. It takes
      # no grouped-query heads (with enable_gqa libtorch falls back to its S x T math kernel), so
      # without causal the group's query heads are stacked along the query axis, (B, G, group*S, D):
      # they share their key and value head, and the longer query also gets the kernel's larger
      # blocks. With causal, whose diagonal depends on the row, K and V are repeated per head.
      if gqa and not causal:
        batch = query.size(0)
        heads = query.size(1)
        queries = query.size(2)
        groups = key.size(1)
        stacked = heads // groups * queries
        folded = query.reshape([batch, groups, stacked, query.size(3)])  # (B, G, group*S, D)
        if has_mask:
          folded_mask = mask
          if mask.size(1) == 1 and mask.size(2) != 1:
            folded_mask = mask.repeat([1, 1, heads // groups, 1])  # (B|1, 1, group*S, T|1)
          elif mask.size(1) != 1:
            keys = mask.size(3)
            full = mask.expand([mask.size(0), heads, queries, keys])  # (B|1, H, S, T|1)
            folded_mask = full.reshape([mask.size(0), groups, stacked, keys])
          out = torch.scaled_dot_product_attention(folded, key, value, folded_mask, 0.0, False, scale=scale)
        else:
          out = torch.scaled_dot_product_attention(folded, key, value, None, 0.0, False, scale=scale)
        out = out.reshape([batch, heads, queries, value.size(3)])  # (B, H, S, Dv)
      else:
        if gqa:
          group = query.size(1) // key.size(1)
          key = key.repeat_interleave(group, 1)  # (B, H, T, D)
          value = value.repeat_interleave(group, 1)  # (B, H, T, Dv)
        if has_mask:
          out = torch.scaled_dot_product_attention(query, key, value, mask, 0.0, False, scale=scale)
        else:
          out = torch.scaled_dot_product_attention(query, key, value, None, 0.0, causal, scale=scale)
      if has_mask:
        # A row whose keys are all masked gets a zero output, as in ONNX.
        if mask.dtype == 11:
          no_key = torch.logical_not(torch.any(mask, -1, True))
        else:
          no_key = torch.eq(torch.amax(mask, [-1], True), float("-inf"))
        out = out.masked_fill(no_key, 0.0)
    else:
      out = self.tiled(query, key, value, mask, has_mask, causal, scale, softcap, score_dtype, tile_rows)
    if factor != 1.0:
      out = out * factor
    return out.to(out_dtype)

  def largest_magnitude(self: __torch__.FastAttention, x: Tensor) -> float:
    # max |x| in one pass and without a temporary (NaN where x holds one), 0 for no elements
    if x.numel() == 0:
      return 0.0
    low, high = torch.aminmax(x)
    return max(-float(low), float(high))

  def value_factor(self: __torch__.FastAttention, value: Tensor, keys: int) -> float:
    # libtorch's fused kernel and the tiled loop sum T unnormalized weights (each at most 1) times
    # values before they divide: values within a factor 2T of the largest would overflow where the
    # chain's normalized sum does not. Such values are divided by the power of two 2^ceil(log2 2T)
    # (exact) and the output multiplied back; otherwise (and for NaN or infinity, which propagate
    # anyway) the factor is 1.
    largest = self.largest(value.dtype)
    top = self.largest_magnitude(value)
    if not (top > largest / (2.0 * keys)) or top == float("inf"):
      return 1.0
    factor = 1.0
    while factor < 2.0 * keys:
      factor = factor * 2.0
    return factor

  def largest(self: __torch__.FastAttention, dtype: int) -> float:
    # The largest finite value of a product type: float64's, else bfloat16's (a little below
    # float32's)
    if dtype == 7:
      return 1.7976931348623157e308
    return 3.3895313892515355e38

  def smallest_normal(self: __torch__.FastAttention, dtype: int) -> float:
    if dtype == 7:
      return 2.2250738585072014e-308
    return 1.1754943508222875e-38

  def tiled(self: __torch__.FastAttention,
      query: Tensor,
      key: Tensor,
      value: Tensor,
      mask: Tensor,
      has_mask: bool,
      causal: bool,
      scale: float,
      softcap: float,
      score_dtype: int,
      tile_rows: int) -> Tensor:
    # Tiles of query rows, for softcap and for a mask combined with the causal mask. Every tile
    # reuses the same buffers (no allocation the size of a tile inside the loop), the softmax is
    # done in place (max, exp, sum) and its division is applied to the (rows, Dv) output. (So the
    # product with V sums weights of up to 1 times the values, up to T times the largest value:
    # values within a factor T of the type's largest can overflow there, as in libtorch's fused
    # kernel; the step-by-step chain divides first.)
    batch = query.size(0)
    heads = query.size(1)
    queries = query.size(2)
    head_size = query.size(3)
    groups = key.size(1)
    group = heads // groups
    keys_total = key.size(2)
    value_size = value.size(3)
    # The products' factor, scale or scale / softcap: on the query when it is at most 1 (then no
    # product overflows that the unscaled one does not), else on each product, as the step-by-step
    # chain applies it. Where scale / softcap is not a normal number of the type, the scores are
    # divided by the softcap instead, as in the chain.
    factor = scale
    divide = False
    if softcap != 0.0:
      factor = scale / softcap
      if factor < self.smallest_normal(query.dtype) or factor > self.largest(query.dtype):
        factor = scale
        divide = True
    before = factor <= 1.0
    grouped = query.reshape([batch, groups, group, queries, head_size])
    if before:
      grouped = (query * factor).reshape([batch, groups, group, queries, head_size])
    key_t = key.transpose(-1, -2)
    product_dtype = query.dtype
    tile_scores = batch * heads * tile_rows * keys_total
    product_buffer = torch.empty([tile_scores], dtype=product_dtype, device=query.device)
    score_buffer = product_buffer
    if product_dtype != score_dtype:
      score_buffer = torch.empty([tile_scores], dtype=score_dtype, device=query.device)
    out_buffer = torch.empty([batch * heads * tile_rows * value_size], dtype=product_dtype, device=query.device)
    output = torch.empty([batch, heads, queries, value_size], dtype=score_dtype, device=query.device)
    for start in range(0, queries, tile_rows):
      end = min(queries, start + tile_rows)
      rows = end - start
      keys = keys_total
      if causal:
        keys = min(keys_total, end)
      size = batch * heads * rows * keys
      q_tile = grouped[:, :, :, start:end].reshape([batch, groups, group * rows, head_size])
      product = product_buffer[:size].view([batch, groups, group * rows, keys])
      product = torch.matmul(q_tile, key_t[:, :, :, :keys], out=product)
      scores = score_buffer[:size].view([batch, heads, rows, keys])
      if product_dtype != score_dtype:
        scores = scores.copy_(product.view([batch, heads, rows, keys]))
      if not before:
        scores = scores.mul_(factor)
      if softcap != 0.0:
        if divide:
          scores = scores.div_(softcap)
        scores = scores.tanh_().mul_(softcap)
      if has_mask:
        mask_tile = mask
        if mask.size(2) != 1:
          mask_tile = mask_tile[:, :, start:end]
        if mask.size(3) != 1:
          mask_tile = mask_tile[:, :, :, :keys]
        if mask.dtype == 11:
          scores = scores.masked_fill_(torch.logical_not(mask_tile), float("-inf"))
        else:
          scores = scores.add_(mask_tile)
      if causal and keys - 1 > start:
        row = torch.arange(start, end, device=query.device).unsqueeze(1)
        col = torch.arange(0, keys, device=query.device).unsqueeze(0)
        scores = scores.masked_fill_(torch.gt(col, row), float("-inf"))
      # exp(s - max) with max := 0 on a row of only -inf, so that row's weights are all 0 ...
      row_max = torch.amax(scores, [-1], True)
      row_max = row_max.masked_fill_(torch.eq(row_max, float("-inf")), 0.0)
      scores = scores.sub_(row_max).exp_()
      row_sum = torch.sum(scores, [-1], True)
      # ... and its sum 1, so its output is 0 (as in ONNX) rather than 0/0.
      row_sum = row_sum.masked_fill_(torch.eq(row_sum, 0.0), 1.0)
      weights = scores
      if product_dtype != score_dtype:
        weights = product.view([batch, heads, rows, keys]).copy_(scores)
      out = out_buffer[:batch * heads * rows * value_size].view([batch, groups, group * rows, value_size])
      out = torch.matmul(weights.view([batch, groups, group * rows, keys]), value[:, :, :keys], out=out)
      out_rows = output[:, :, start:end]
      out_rows = out_rows.copy_(out.view([batch, heads, rows, value_size])).div_(row_sum)
    return output

  def requires_grad(self: __torch__.FastAttention,
      query: Tensor,
      key: Tensor,
      value: Tensor,
      mask: Tensor) -> bool:
    # Whether autograd tracks any input, leaf or not (DJL's hasGradient() sees leaves only).
    return query.requires_grad or key.requires_grad or value.requires_grad or mask.requires_grad

  def differentiable(self: __torch__.FastAttention,
      query: Tensor,
      key: Tensor,
      value: Tensor,
      mask: Tensor,
      settings: Tensor) -> Tensor:
    # libtorch's fused attention with autograd (DJL runs this method in training mode): its CPU
    # flash kernel saves the output and the row log-sum-exp, not the S x T weights. settings is
    # float64 [has_mask, causal, scale]. A mask is boolean (True = the key takes part) or additive.
    has_mask = bool(settings[0].item() != 0.0)
    causal = bool(settings[1].item() != 0.0)
    scale = float(settings[2].item())
    factor = self.value_factor(value, key.size(2))
    if factor != 1.0:
      value = value / factor
    if query.size(1) != key.size(1):
      group = query.size(1) // key.size(1)
      key = key.repeat_interleave(group, 1)  # (B, H, T, D)
      value = value.repeat_interleave(group, 1)  # (B, H, T, Dv)
    if has_mask and causal:
      rows = torch.arange(query.size(2), device=query.device).unsqueeze(1)
      cols = torch.arange(key.size(2), device=query.device).unsqueeze(0)
      seen = torch.le(cols, rows)  # (S, T): query i sees keys j <= i
      if mask.dtype == 11:
        mask = torch.logical_and(mask, seen)
      else:
        mask = mask.masked_fill(torch.logical_not(seen), float("-inf"))
      causal = False
    fused = True
    if scale > 1.0:
      # as in forward: libtorch may scale q and k before their product, which can overflow where
      # Q K^T scale does not; then the product comes first, as in the chain
      bound = self.largest_magnitude(query) * self.largest_magnitude(key) * query.size(3) * scale
      fused = bound < self.largest(query.dtype) / 16.0
    if fused and has_mask and mask.dtype != 11 and mask.numel() > 0:
      # The flash kernel's backward recomputes the weights as exp(s + m - lse), lse kept in the
      # compute type: where a row's largest mask value is huge (a row that -3.4e38 padding hides
      # entirely), lse = max + log(sum) loses the log and the gradient grows by up to T. Such
      # calls take the chain's steps instead.
      row_max = torch.amax(mask, [-1])
      huge = torch.logical_and(torch.isfinite(row_max), torch.gt(torch.abs(row_max), 65536.0))
      fused = not bool(torch.any(huge))
    if not fused:
      out = self.differentiable_math(query, key, value, mask, has_mask, causal, scale)
    elif not has_mask:
      out = torch.scaled_dot_product_attention(query, key, value, None, 0.0, causal, scale=scale)
    else:
      if mask.dtype == 11:
        no_key = torch.logical_not(torch.any(mask, -1, True))
      else:
        no_key = torch.eq(torch.amax(mask, [-1], True), float("-inf"))
      out = torch.scaled_dot_product_attention(query, key, value, mask, 0.0, False, scale=scale)
      # A row whose keys are all masked gets a zero output (and no gradient), as in ONNX.
      out = out.masked_fill(no_key, 0.0)
    if factor != 1.0:
      out = out * factor
    return out

  def differentiable_math(self: __torch__.FastAttention,
      query: Tensor,
      key: Tensor,
      value: Tensor,
      mask: Tensor,
      has_mask: bool,
      causal: bool,
      scale: float) -> Tensor:
    # The chain's steps, out of place so that autograd records them: (Q K^T) scale, mask, causal,
    # softmax with zeros for rows that see no key, weights V. Key and value have H heads here.
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale  # (B, H, S, T)
    if has_mask:
      if mask.dtype == 11:
        scores = scores.masked_fill(torch.logical_not(mask), float("-inf"))
      else:
        scores = scores + mask
    if causal:
      rows = torch.arange(query.size(2), device=query.device).unsqueeze(1)
      cols = torch.arange(key.size(2), device=query.device).unsqueeze(0)
      scores = scores.masked_fill(torch.gt(cols, rows), float("-inf"))
    hidden = torch.eq(torch.amax(scores, [-1], True), float("-inf"))
    safe = scores.masked_fill(hidden, 0.0)
    weights = torch.softmax(safe, -1).masked_fill(hidden, 0.0)
    return torch.matmul(weights, value)  # (B, H, S, Dv)
