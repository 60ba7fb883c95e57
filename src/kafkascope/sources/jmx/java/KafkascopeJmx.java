package kafkascope.jmx;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.lang.reflect.Proxy;
import java.rmi.NoSuchObjectException;
import java.rmi.NotBoundException;
import java.rmi.Remote;
import java.rmi.registry.LocateRegistry;
import java.rmi.registry.Registry;
import java.rmi.server.RMISocketFactory;
import java.rmi.server.RemoteObject;
import java.security.KeyManagementException;
import java.security.KeyStore;
import java.security.Provider;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.Set;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.AttributeList;
import javax.management.InstanceNotFoundException;
import javax.management.JMException;
import javax.management.JMRuntimeException;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.rmi.RMIConnector;
import javax.management.remote.rmi.RMIServer;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLContextSpi;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/**
 * The part of kafkascope's JMX reader that Python cannot write through JPype (which can
 * implement Java interfaces but not extend classes): every socket RMI opens, with a connect
 * timeout, a read timeout and, for TLS, the target's own truststore and keystore.
 *
 * <p>RMI opens sockets in three places, and none of them has a connect timeout of its own:
 * the registry lookup (given a factory here), the connection to the RMI
 * server of an agent without TLS (the stub carries no factory, so the process-wide
 * {@link RMISocketFactory} is used) and of an agent with TLS (the stub carries a {@code
 * javax.rmi.ssl.SslRMIClientSocketFactory}, which asks the default {@link SSLContext}). {@link
 * #install} replaces the process-wide factory and the default context with ones that connect
 * with a timeout; {@link #connect} names the target's settings for the sockets opened on
 * its behalf, and remembers them by address for the sockets RMI opens later (a pooled
 * connection that was closed while idle).
 */
public final class KafkascopeJmx {
    private KafkascopeJmx() {}

    /** One target's socket settings. {@code tls} is null for the JDK's default trust. */
    static final class Route {
        final int connectMs;
        final int readMs;
        final SSLSocketFactory tls;

        Route(int connectMs, int readMs, SSLSocketFactory tls) {
            this.connectMs = connectMs;
            this.readMs = readMs;
            this.tls = tls;
        }
    }

    private static final ThreadLocal<Route> CURRENT = new ThreadLocal<>();
    private static final Map<String, Route> ROUTES = new ConcurrentHashMap<>();
    private static volatile Route fallback = new Route(5000, 5000, null);
    private static SSLContext original;

    /** The route for a socket to host:port: the connecting call's, else the one learned. */
    static Route route(String host, int port) {
        String key = host + ":" + port;
        Route r = CURRENT.get();
        if (r != null) {
            ROUTES.put(key, r);
            return r;
        }
        r = ROUTES.get(key);
        return r != null ? r : fallback;
    }

    /**
     * A socket whose read timeout never exceeds its target's: RMI sets its own JVM-wide
     * values on the sockets it gets (for its handshake, for each response), and 0 is forever.
     * A TLS socket layered on it passes its timeouts down to it.
     */
    static final class BoundedSocket extends Socket {
        private final int readMs;

        BoundedSocket(int readMs) {
            this.readMs = readMs;
        }

        @Override
        public void setSoTimeout(int timeout) throws SocketException {
            super.setSoTimeout(timeout <= 0 ? readMs : Math.min(timeout, readMs));
        }
    }

    static Socket plain(String host, int port, Route r) throws IOException {
        Socket s = new BoundedSocket(r.readMs);
        try {
            s.connect(new InetSocketAddress(host, port), r.connectMs);
            s.setSoTimeout(r.readMs);
            s.setTcpNoDelay(true);
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }

    static SSLSocket tls(String host, int port, Route r) throws IOException {
        Socket s = plain(host, port, r);
        try {
            SSLSocketFactory f = r.tls != null ? r.tls : original.getSocketFactory();
            SSLSocket t = (SSLSocket) f.createSocket(s, host, port, true);
            t.setSoTimeout(r.readMs);
            t.startHandshake(); // here, bounded by the read timeout, not on first use
            return t;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }

    /** RMI's sockets: plain (the process-wide factory) or TLS (a registry with TLS). */
    static final class RmiSockets extends RMISocketFactory implements Serializable {
        private static final long serialVersionUID = 1L;
        private final boolean secure;

        RmiSockets(boolean secure) {
            this.secure = secure;
        }

        @Override
        public Socket createSocket(String host, int port) throws IOException {
            Route r = route(host, port);
            return secure ? tls(host, port, r) : plain(host, port, r);
        }

        @Override
        public ServerSocket createServerSocket(int port) throws IOException {
            return RMISocketFactory.getDefaultSocketFactory().createServerSocket(port);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof RmiSockets && ((RmiSockets) o).secure == secure;
        }

        @Override
        public int hashCode() {
            return secure ? 1 : 0;
        }
    }

    /** What the default SSLContext hands out: TLS sockets that connect with a timeout. */
    static final class TlsSockets extends SSLSocketFactory {
        @Override
        public Socket createSocket(String host, int port) throws IOException {
            return tls(host, port, route(host, port));
        }

        @Override
        public Socket createSocket(String host, int port, InetAddress local, int localPort)
                throws IOException {
            return createSocket(host, port);
        }

        @Override
        public Socket createSocket(InetAddress host, int port) throws IOException {
            return createSocket(host.getHostAddress(), port);
        }

        @Override
        public Socket createSocket(InetAddress host, int port, InetAddress local, int localPort)
                throws IOException {
            return createSocket(host.getHostAddress(), port);
        }

        @Override
        public Socket createSocket(Socket s, String host, int port, boolean autoClose)
                throws IOException {
            return original.getSocketFactory().createSocket(s, host, port, autoClose);
        }

        @Override
        public Socket createSocket() throws IOException {
            return original.getSocketFactory().createSocket();
        }

        @Override
        public String[] getDefaultCipherSuites() {
            return original.getSocketFactory().getDefaultCipherSuites();
        }

        @Override
        public String[] getSupportedCipherSuites() {
            return original.getSocketFactory().getSupportedCipherSuites();
        }
    }

    static final class DefaultSpi extends SSLContextSpi {
        private final SSLSocketFactory sockets = new TlsSockets();

        @Override
        protected void engineInit(KeyManager[] km, TrustManager[] tm, SecureRandom sr)
                throws KeyManagementException {
            throw new KeyManagementException("the default SSLContext is already initialised");
        }

        @Override
        protected SSLSocketFactory engineGetSocketFactory() {
            return sockets;
        }

        @Override
        protected SSLServerSocketFactory engineGetServerSocketFactory() {
            return original.getServerSocketFactory();
        }

        @Override
        protected SSLEngine engineCreateSSLEngine() {
            return original.createSSLEngine();
        }

        @Override
        protected SSLEngine engineCreateSSLEngine(String host, int port) {
            return original.createSSLEngine(host, port);
        }

        @Override
        protected SSLSessionContext engineGetServerSessionContext() {
            return original.getServerSessionContext();
        }

        @Override
        protected SSLSessionContext engineGetClientSessionContext() {
            return original.getClientSessionContext();
        }

        @Override
        protected SSLParameters engineGetDefaultSSLParameters() {
            return original.getDefaultSSLParameters();
        }

        @Override
        protected SSLParameters engineGetSupportedSSLParameters() {
            return original.getSupportedSSLParameters();
        }
    }

    static final class DefaultContext extends SSLContext {
        DefaultContext(Provider provider) {
            super(new DefaultSpi(), provider, "Default");
        }
    }

    /**
     * Once, before any RMI or TLS use: sockets of unknown targets get these timeouts.
     * Idempotent; the second call only updates the timeouts.
     */
    public static synchronized void install(int connectMs, int readMs) throws Exception {
        fallback = new Route(connectMs, readMs, null);
        if (original != null) {
            return;
        }
        original = SSLContext.getDefault();
        RMISocketFactory.setSocketFactory(new RmiSockets(false));
        SSLContext.setDefault(new DefaultContext(original.getProvider()));
    }

    /** A key or trust store; whatever goes wrong names which store and which file. */
    private static KeyStore load(String what, String path, String password, String type)
            throws IOException {
        try (InputStream in = new FileInputStream(path)) {
            KeyStore ks = KeyStore.getInstance(type);
            ks.load(in, password == null ? null : password.toCharArray());
            return ks;
        } catch (IOException | java.security.GeneralSecurityException e) {
            throw new IOException(what + " " + path + " (" + type + "): " + e, e);
        }
    }

    /**
     * A TLS socket factory trusting {@code trustPath} (null: the JDK's default trust) and
     * presenting {@code keyPath}'s key (null: none). The key's password is the keystore's.
     */
    public static SSLSocketFactory tlsFactory(
            String trustPath,
            String trustPassword,
            String trustType,
            String keyPath,
            String keyPassword,
            String keyType)
            throws Exception {
        TrustManager[] tms = null;
        if (trustPath != null) {
            TrustManagerFactory tmf =
                    TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(load("truststore", trustPath, trustPassword, trustType));
            tms = tmf.getTrustManagers();
        }
        KeyManager[] kms = null;
        if (keyPath != null) {
            KeyStore ks = load("keystore", keyPath, keyPassword, keyType);
            KeyManagerFactory kmf =
                    KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            try {
                kmf.init(ks, keyPassword == null ? new char[0] : keyPassword.toCharArray());
            } catch (java.security.GeneralSecurityException e) {
                throw new IOException("keystore " + keyPath + ": its key cannot be read: " + e, e);
            }
            kms = kmf.getKeyManagers();
        }
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kms, tms, null);
        return ctx.getSocketFactory();
    }

    private static final Pattern ENDPOINT = Pattern.compile("endpoint:\\[(.+?):(\\d+)[,\\]]");

    /**
     * Check the agent's certificate with this connection's own trust, by a TLS handshake
     * with the RMI server the stub names. RMI reuses a pooled connection to that address
     * whoever asks, so without this a connection configured with another truststore
     * would ride on one that an earlier, trusted connection opened.
     */
    private static void verifyTls(RMIServer stub, Route route) throws IOException {
        Object ref = stub;
        if (Proxy.isProxyClass(stub.getClass())) {
            ref = Proxy.getInvocationHandler(stub);
        }
        if (!(ref instanceof RemoteObject)) {
            return;
        }
        String text = ((RemoteObject) ref).getRef().remoteToString();
        Matcher m = ENDPOINT.matcher(text);
        if (!text.contains("SslRMIClientSocketFactory") || !m.find()) {
            return; // no TLS in the stub: RMIConnector's stub check says so clearly
        }
        tls(m.group(1), Integer.parseInt(m.group(2)), route).close();
    }

    /**
     * Connect to the JMX agent at host:port. {@code ssl}: the agent must use TLS (a stub
     * without it is refused); {@code registrySsl}: its RMI registry uses TLS too. {@code tls}
     * is the target's {@link #tlsFactory} or null for the JDK's default trust.
     */
    public static JMXConnector connect(
            String host,
            int port,
            String user,
            String password,
            boolean ssl,
            boolean registrySsl,
            SSLSocketFactory tls,
            int connectMs,
            int readMs)
            throws IOException {
        Route route = new Route(connectMs, readMs, tls);
        Route previous = CURRENT.get();
        CURRENT.set(route);
        try {
            Map<String, Object> env = new HashMap<>();
            if (user != null) {
                env.put(JMXConnector.CREDENTIALS, new String[] {user, password == null ? "" : password});
            }
            if (ssl) {
                env.put("jmx.remote.x.check.stub", "true");
            }
            Registry registry = LocateRegistry.getRegistry(host, port, new RmiSockets(registrySsl));
            Remote found;
            try {
                found = registry.lookup("jmxrmi");
            } catch (NotBoundException | NoSuchObjectException e) {
                // The registry answers before the agent is bound in it (a JVM starting).
                throw new IOException("NotBoundException: jmxrmi is not bound in the registry", e);
            }
            if (!(found instanceof RMIServer)) {
                throw new IOException("jmxrmi in the registry is a " + found.getClass().getName()
                        + ", not a JMX RMIServer");
            }
            RMIServer stub = (RMIServer) found;
            if (ssl || registrySsl) {
                verifyTls(stub, route);
            }
            JMXConnector connector = new RMIConnector(stub, env);
            connector.connect(env);
            return connector;
        } finally {
            if (previous == null) {
                CURRENT.remove();
            } else {
                CURRENT.set(previous);
            }
        }
    }

    // -------------------------------------------------------------------- name lists

    /**
     * The canonical names of the MBeans matching {@code pattern}, as one string: the count,
     * then each name, separated by newlines (an ObjectName cannot hold a raw newline: a
     * quoted value escapes it, an unquoted one refuses it). One string crosses JPype once;
     * walking the Set of ObjectNames from Python cost 10 µs of CPU per name against 7 µs
     * this way (23,125 names of the 2,000-partition bench broker, measured by
     * bench/jmx_scrape/names.py). The caller checks the count.
     */
    public static String queryNames(MBeanServerConnection mbsc, ObjectName pattern)
            throws IOException {
        Set<ObjectName> names = mbsc.queryNames(pattern, null);
        StringBuilder out = new StringBuilder(names.size() * 96 + 8);
        out.append(names.size());
        for (ObjectName n : names) {
            out.append('\n').append(n.getCanonicalName());
        }
        return out.toString();
    }

    // -------------------------------------------------------------------- batch reads

    /** What {@link #readMany} found for one MBean. */
    public static final byte NUMBER = 0, WHOLE = 1, OTHER = 2, LIST = 3, VANISHED = 4, FAILED = 5;

    /**
     * Reads a batch of MBeans in one call from Python, so the batch crosses JPype once, not
     * once per MBean (measured in bench/jmx_scrape: that crossing was most of the reader's
     * CPU). {@code attributes[i]} of length 1 is read with getAttribute, else getAttributes.
     * The answer fills the caller's arrays: {@code status[i]} says where MBean i's answer
     * is: NUMBER in {@code doubles[i]}, WHOLE (an integral number) in {@code longs[i]},
     * OTHER (any other value, one attribute) or LIST (an AttributeList) in
     * {@code objects[i]}; VANISHED: the MBean is gone; FAILED: any other JMX error about
     * the MBean or its attributes (nothing is read of it). A link failure (IOException)
     * ends the batch.
     */
    public static void readMany(MBeanServerConnection mbsc, ObjectName[] names,
            String[][] attributes, byte[] status, double[] doubles, long[] longs,
            Object[] objects) throws IOException {
        for (int i = 0; i < names.length; i++) {
            String[] attrs = attributes[i];
            try {
                if (attrs.length == 1) {
                    Object v = mbsc.getAttribute(names[i], attrs[0]);
                    if (v instanceof Double || v instanceof Float) {
                        status[i] = NUMBER;
                        doubles[i] = ((Number) v).doubleValue();
                    } else if (v instanceof Long || v instanceof Integer || v instanceof Short
                            || v instanceof Byte) {
                        status[i] = WHOLE;
                        longs[i] = ((Number) v).longValue();
                    } else {
                        status[i] = OTHER;
                        objects[i] = v;
                    }
                } else {
                    AttributeList list = mbsc.getAttributes(names[i], attrs);
                    status[i] = LIST;
                    objects[i] = list;
                }
            } catch (InstanceNotFoundException e) {
                status[i] = VANISHED;
            } catch (JMException | JMRuntimeException e) {
                status[i] = FAILED;
            }
        }
    }
}
