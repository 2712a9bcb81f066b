package dev.inferwatch.devstack;

import org.codelibs.opensearch.runner.OpenSearchRunner;

import java.util.concurrent.CountDownLatch;

/**
 * Runs {@code OpenSearchRunner} in the foreground for the inferwatch dev stack.
 *
 * <p>Takes the runner's own arguments ({@code -basePath D -numOfNode 1 -baseHttpPort P ...}). The runner's
 * CLI caps HTTP ports at 9299 and swallows start-up errors; this entry point lifts the cap, prints the
 * failure and exits non-zero, and closes the node on SIGTERM.
 */
public final class OpenSearchMain {
    private OpenSearchMain() {
    }

    public static void main(String[] args) throws Exception {
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "devstack-opensearch-shutdown"));
        try {
            runner.build(args);
        } catch (RuntimeException e) {
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("inferwatch devstack: opensearch node started");
        closed.await();
    }
}
