package io.github.djlattention.verify;

import java.util.List;

/**
 * Who deviates from the float64 reference at one site.
 *
 * @param kind the outcome
 * @param deviating the implementations that disagree with the reference
 * @param summary one readable line, naming the site's outputs and heads that deviate
 */
public record SiteVerdict(Kind kind, List<String> deviating, String summary) {

  /** The outcomes. */
  public enum Kind {
    /** ONNX Runtime and every project implementation agree with the reference. */
    ALL_AGREE,
    /** The project agrees with the reference; ONNX Runtime does not. */
    ONNX_RUNTIME_DEVIATES,
    /** ONNX Runtime agrees with the reference; a project implementation does not. */
    PROJECT_DEVIATES,
    /** ONNX Runtime and a project implementation both disagree with the reference. */
    BOTH_DEVIATE,
    /** The site was found but could not be recomputed; the summary says why. */
    NOT_VERIFIED
  }

  /** Copies the list. */
  public SiteVerdict {
    deviating = List.copyOf(deviating);
  }

  /**
   * Whether the site agrees: everyone matches the reference.
   *
   * @return true for {@link Kind#ALL_AGREE}
   */
  public boolean agrees() {
    return kind == Kind.ALL_AGREE;
  }
}
