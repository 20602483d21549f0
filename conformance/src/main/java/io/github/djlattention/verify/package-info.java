/**
 * Verification of real models: {@link io.github.djlattention.verify.ModelVerifier} runs an ONNX
 * model once on ONNX Runtime with every attention site's tensors exposed, recomputes each site with
 * the project (the functional API with and without the weights, a {@code MultiHeadAttentionBlock}
 * over the sublayer with the graph's weights) and with the float64 reference, and reports per site
 * and per head ({@link io.github.djlattention.verify.ModelReport}, {@link
 * io.github.djlattention.verify.SiteResult}) as a console table, JSON and HTML; a deviating site
 * can be written as a standalone ONNX backend-test case. {@link
 * io.github.djlattention.verify.ModelsSuite} is the conformance suite {@code models} over
 * all-MiniLM-L6-v2 (float and quantized); {@link io.github.djlattention.verify.ModelInputs} makes
 * the inputs from an {@code .npz} or from text through DJL's Hugging Face tokenizer.
 */
package io.github.djlattention.verify;
