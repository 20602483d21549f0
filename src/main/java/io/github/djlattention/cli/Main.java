package io.github.djlattention.cli;

public final class Main {
  public static void main(String[] args) {}
}
