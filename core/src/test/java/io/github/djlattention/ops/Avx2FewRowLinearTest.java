package io.github.djlattention.ops;

/**
 * {@link FewRowLinearTest} on the few-row linear kernel's AVX2 variant: on a CPU without AVX-512 it
 * is the variant that runs anyway; on one with AVX-512 this checks it there too.
 */
class Avx2FewRowLinearTest extends FewRowLinearTest {

  @Override
  boolean avx2() {
    return true;
  }
}
