package org.elasticsearch.node;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * Runs one Elasticsearch core node in the foreground for the inferwatch dev stack.
 *
 * <p>Arguments: the path of an {@code elasticsearch.yml}, then optional {@code key=value} settings that
 * override it. The node is built from the Maven Central server jar with {@link Netty4Plugin} loaded from
 * the classpath; it has no x-pack and no modules. SIGTERM closes the node cleanly. Lives in this package
 * because {@code NodeConstruction} and {@code NodeServiceProvider} are package-private.
 */
public final class DevstackNode {
    private DevstackNode() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            throw new IllegalArgumentException("usage: DevstackNode <elasticsearch.yml> [key=value...]");
        }
        Settings.Builder builder = Settings.builder().loadFromPath(Path.of(args[0]));
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected key=value, got: " + args[i]);
            }
            builder.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        Settings settings = builder.build();
        LogConfigurator.configureESLogging();
        LogConfigurator.configureWithoutConfig(settings);

        // No plugin bundles, and no qualified exports: on the classpath the server is not a named module.
        PluginsLoader loader = PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false);
        NodeServiceProvider provider = new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment environment, PluginsLoader pluginsLoader) {
                return new ClasspathPluginsService(environment.settings(), pluginsLoader, List.of(Netty4Plugin.class));
            }
        };
        Node node = new Node(NodeConstruction.prepareConstruction(new Environment(settings, null), loader, provider, true));

        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "devstack-node-shutdown"));
        try {
            node.start();
        } catch (Exception e) {
            // Node threads are not daemons: exit explicitly so a failed start never leaves a hung JVM.
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("inferwatch devstack: elasticsearch node started, http "
            + node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress());
        closed.await();
    }
}
