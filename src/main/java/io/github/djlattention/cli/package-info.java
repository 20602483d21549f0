/**
 * The {@code djl-attention} command line, built with picocli.
 *
 * <p>{@link io.github.djlattention.cli.Main} is the top command; it lists every subcommand in one
 * place (its {@code SUBCOMMANDS} list) and owns the error policy shared by all of them ({@link
 * io.github.djlattention.cli.ErrorPolicy}): bad input prints one line on stderr and exits 2; see
 * {@link io.github.djlattention.cli.ExitCodes}.
 */
package io.github.djlattention.cli;
