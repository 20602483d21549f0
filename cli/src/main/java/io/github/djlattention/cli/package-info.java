/**
 * The {@code djl-attention} command line, built with picocli.
 *
 * <p>{@link io.github.djlattention.cli.Main} is the top command. Its {@code SUBCOMMANDS} list is
 * the one place where subcommands are registered: to add one, write a {@code @Command} class that
 * implements {@code Callable<Integer>} and add its line to the list. Every subcommand gets {@code
 * --help}, {@code --version} and the shared {@code --verbose} (unless it declares them itself; read
 * it with {@code Main.verbose(spec)}), and the shared error policy. Print results to {@code
 * spec.commandLine().getOut()} so that in-process runs capture them.
 *
 * <p>Error policy ({@link io.github.djlattention.cli.ExitCodes}): throw {@link
 * java.lang.IllegalArgumentException} or {@link java.io.UncheckedIOException} for bad input; the
 * command line prints one line, {@code djl-attention <command>: <message>}, and exits 2 (the stack
 * trace only with {@code --verbose}). Other exceptions exit 3; a command returns 1 when it ran but
 * a check failed, 0 on success.
 */
package io.github.djlattention.cli;
