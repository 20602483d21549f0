package io.github.djlattention.onnx.inspect;

import org.junit.jupiter.api.Test;

class ScratchPrintTest {
  @Test
  void print() {
    for (var file : new java.nio.file.Path[] {MiniLmFiles.FLOAT, MiniLmFiles.QUANTIZED}) {
      var model = AttentionFinder.read(MiniLmFiles.require(file));
      for (AttentionSite s : AttentionFinder.find(model)) {
        System.out.println(s);
      }
    }
  }
}
