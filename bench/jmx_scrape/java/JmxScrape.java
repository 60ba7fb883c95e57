import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.JMException;
import javax.management.JMRuntimeException;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * The plain-Java baseline of bench/jmx_scrape: a JMXConnector client that reads the same
 * MBeans as kafkascope's TargetReader, the way a careful hand-written client would — list
 * each catalog pattern with queryNames once, keep the names, then read every MBean with
 * ONE getAttributes asking for the union of the attributes the catalog wants from it.
 *
 * Usage: java JmxScrape HOST:PORT PLAN_FILE. PLAN_FILE lines: SET TAB PATTERN TAB ATTR,ATTR…
 * It stays up and answers commands on stdin, one JSON line each, so JVM start-up and
 * class loading are excluded from the timings (as for the in-process Python reader):
 *   warm SET[,SET…]   read with the cached name list (listed on first use)
 *   cold SET[,SET…]   list again, then read
 *   warm1 / cold1     the same, but an MBean read for one attribute is read with
 *                     getAttribute (kafkascope's strategy) instead of getAttributes
 *   count -           the number of MBeans the JVM has
 *   quit
 */
public final class JmxScrape {
    private record Line(String set, String pattern, List<String> attributes) {}

    private final MBeanServerConnection mbsc;
    private final com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    private final List<Line> plan;
    private final Map<String, Map<ObjectName, String[]>> cache = new HashMap<>();

    private JmxScrape(MBeanServerConnection mbsc, List<Line> plan) {
        this.mbsc = mbsc;
        this.plan = plan;
    }

    private Map<ObjectName, String[]> list(Set<String> sets) throws Exception {
        Map<ObjectName, LinkedHashSet<String>> wanted = new LinkedHashMap<>();
        for (Line line : plan) {
            if (!sets.contains(line.set())) {
                continue;
            }
            for (ObjectName name : mbsc.queryNames(new ObjectName(line.pattern()), null)) {
                wanted.computeIfAbsent(name, n -> new LinkedHashSet<>()).addAll(line.attributes());
            }
        }
        Map<ObjectName, String[]> out = new LinkedHashMap<>();
        wanted.forEach((name, attrs) -> out.put(name, attrs.toArray(new String[0])));
        return out;
    }

    private String round(String mode, String setsArg, boolean single) throws Exception {
        Set<String> sets = new LinkedHashSet<>(List.of(setsArg.split(",")));
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        Map<ObjectName, String[]> names = cache.get(setsArg);
        if (names == null || mode.startsWith("cold")) {
            names = list(sets);
            cache.put(setsArg, names);
        }
        int values = 0;
        int numeric = 0;
        for (Map.Entry<ObjectName, String[]> e : names.entrySet()) {
            String[] attrs = e.getValue();
            if (single && attrs.length == 1) {
                Object value;
                try {
                    value = mbsc.getAttribute(e.getKey(), attrs[0]);
                } catch (JMException | JMRuntimeException ex) {
                    continue;
                }
                values++;
                if (value instanceof Number) {
                    numeric++;
                }
                continue;
            }
            AttributeList result = mbsc.getAttributes(e.getKey(), attrs);
            for (Attribute a : result.asList()) {
                values++;
                if (a.getValue() instanceof Number) {
                    numeric++;
                }
            }
        }
        double ms = (System.nanoTime() - t0) / 1e6;
        double cpuMs = (os.getProcessCpuTime() - cpu0) / 1e6;
        return String.format(
                "{\"ms\": %.3f, \"cpu_ms\": %.3f, \"beans\": %d, \"values\": %d, \"numeric\": %d}",
                ms, cpuMs, names.size(), values, numeric);
    }

    public static void main(String[] args) throws Exception {
        List<Line> plan = new ArrayList<>();
        for (String text : Files.readAllLines(Path.of(args[1]))) {
            if (text.isBlank()) {
                continue;
            }
            String[] f = text.split("\t");
            plan.add(new Line(f[0], f[1], List.of(f[2].split(","))));
        }
        JMXServiceURL url = new JMXServiceURL("service:jmx:rmi:///jndi/rmi://" + args[0] + "/jmxrmi");
        try (JMXConnector connector = JMXConnectorFactory.connect(url, new HashMap<>())) {
            JmxScrape scrape = new JmxScrape(connector.getMBeanServerConnection(), plan);
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            System.out.println("{\"ready\": true}");
            System.out.flush();
            String command;
            while ((command = in.readLine()) != null) {
                String[] f = command.trim().split(" ");
                if (f[0].equals("quit")) {
                    break;
                }
                if (f[0].equals("count")) {
                    System.out.println("{\"mbeans\": " + scrape.mbsc.getMBeanCount() + "}");
                    System.out.flush();
                    continue;
                }
                System.out.println(scrape.round(f[0], f[1], f[0].endsWith("1")));
                System.out.flush();
            }
        }
    }
}
