/**
 * The {@code djl-attention} command line (picocli): {@link io.github.djlattention.cli.Main} with
 * its subcommands, such as {@link io.github.djlattention.cli.ConformanceCommand}.
 */
package io.github.djlattention.cli;
