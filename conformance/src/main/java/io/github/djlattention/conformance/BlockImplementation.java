package io.github.djlattention.conformance;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.AbstractBlock;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import java.util.Optional;

/**
 * Runs a {@link BlockCase} through the project's DJL block and a DJL {@link Predictor}, as an
 * application would.
 *
 * @param <C> the case type
 */
public final class BlockImplementation<C extends BlockCase> implements Implementation<C> {

  /** This implementation's name in reports. */
  public static final String NAME = "djl-block";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Optional<String> notApplicable(C testCase) {
    return testCase.blockUnsupported();
  }

  @Override
  public CaseOutputs run(C testCase, NDManager manager) {
    try (NDManager work = manager.newSubManager();
        Model model = Model.newInstance(testCase.name(), "PyTorch")) {
      AbstractBlock block = testCase.block(work);
      model.setBlock(block);
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        NDList outputs = predictor.predict(testCase.blockInputs(work));
        if (outputs.size() != 2) {
          throw new IllegalStateException(
              "the block returned " + outputs.size() + " outputs, expected output and weights");
        }
        return testCase.fromBlock(outputs.get(0), outputs.get(1), manager);
      } catch (TranslateException e) {
        throw new IllegalStateException("predictor failed: " + e.getMessage(), e);
      }
    }
  }
}
