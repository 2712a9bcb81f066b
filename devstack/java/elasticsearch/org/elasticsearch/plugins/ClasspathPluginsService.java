package org.elasticsearch.plugins;

import org.elasticsearch.Version;
import org.elasticsearch.common.settings.Settings;

import java.util.ArrayList;
import java.util.List;

/**
 * A plugins service whose plugins are plain classes already on the classpath.
 *
 * <p>The Maven Central jars carry no plugin bundles, so the dev-stack node instantiates the plugins it
 * needs (HTTP transport) directly. Lives in this package because {@code LoadedPlugin},
 * {@code loadPlugin} and {@code loadExtensions} are package-private.
 */
public final class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> loaded;

    public ClasspathPluginsService(Settings settings, PluginsLoader loader, List<Class<? extends Plugin>> classes) {
        super(settings, null, loader);
        ClassLoader classLoader = ClasspathPluginsService.class.getClassLoader();
        List<LoadedPlugin> result = new ArrayList<>();
        for (Class<? extends Plugin> cls : classes) {
            PluginDescriptor descriptor = new PluginDescriptor(
                cls.getName(),                          // name
                "inferwatch dev-stack classpath plugin", // description
                Version.CURRENT.toString(),             // plugin version
                Version.CURRENT.toString(),             // elasticsearch version
                Runtime.version().feature() + "",       // java version
                cls.getName(),                          // class name
                null,                                   // module name
                List.of(),                              // extended plugins
                false,                                  // has native controller
                false,                                  // licensed
                false,                                  // modular
                false,                                  // stable API
                PluginDescriptor.DeploymentTarget.ALL
            );
            result.add(new LoadedPlugin(descriptor, loadPlugin(cls, settings, null), classLoader));
        }
        loadExtensions(result);
        this.loaded = List.copyOf(result);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }
}
