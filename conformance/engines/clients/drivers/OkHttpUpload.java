// One upload with OkHttp 4, as the clients profile runs it (the contract is in
// conformance/engines/clients/__init__.py): POST --body-file to --url, print one JSON
// result line, exit 0 on any HTTP answer, 1 on none, 2 on bad arguments.
//
// --mode bare: the API document's Java example, `new OkHttpClient().newBuilder().build()`,
//   so OkHttp's own defaults and its default User-Agent (okhttp/<version>); only the suite's
//   bounds are added when given: --connect-timeout as connectTimeout, --timeout as callTimeout.
// --mode sdk: as the Android SDK builds its client for each upload: connect, read and write
//   timeouts, a call timeout, retryOnConnectionFailure(true) and a network interceptor that
//   replaces the User-Agent with the SDK's own (--user-agent). --connect-timeout replaces the
//   SDK's 10 s connect timeout, --timeout its call timeout (15 s when not given).
// Over https OkHttp offers h2 first by ALPN in both modes (its default protocol list).
//
// Trust: --ca-cert replaces the JDK's trusted roots by the certificates of that PEM bundle,
// as curl --cacert does; --insecure trusts any certificate for any name; --client-cert and
// --client-key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC key) present a client certificate.
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

import okhttp3.Headers;
import okhttp3.MediaType;
import okhttp3.OkHttp;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okhttp3.ResponseBody;

public final class OkHttpUpload {
    static final int BODY_LIMIT = 4096;
    // The Android SDK's timeouts (10 s in its later versions) and its default call timeout.
    static final long SDK_IO_TIMEOUT_MS = 10_000;
    static final long SDK_CALL_TIMEOUT_MS = 15_000;
    static final String USAGE = "usage: OkHttpUpload --url URL --body-file PATH [--header 'Name: value']... "
            + "[--ca-cert PEM] [--insecure] [--client-cert PEM] [--client-key PEM] [--connect-timeout S] "
            + "[--timeout S] [--mode bare|sdk] [--user-agent UA] [--proxy http://HOST:PORT]";

    static final class BadArguments extends Exception {
        private static final long serialVersionUID = 1L;
        BadArguments(String message) { super(message); }
    }

    static final class Options {
        String url;
        String bodyFile;
        final List<String[]> headers = new ArrayList<>();
        String caCert;
        boolean insecure;
        String clientCert;
        String clientKey;
        Long connectTimeoutMs;
        Long timeoutMs;
        String mode = "bare";
        String userAgent;
        String proxy;     // http://host:port: OkHttp tunnels https through it with CONNECT
    }

    public static void main(String[] argv) {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        Options options;
        OkHttpClient client;
        Request request;
        try {
            options = parse(argv);
            client = buildClient(options);
            request = buildRequest(options);
        } catch (BadArguments | IllegalArgumentException e) {
            System.err.println(USAGE);
            out.println(result(null, null, 0, "bad arguments: " + e.getMessage(), null, ""));
            System.exit(2);
            return;
        }
        long start = System.nanoTime();
        try (Response response = client.newCall(request).execute()) {
            String body = readPrefix(response.body());
            double elapsed = (System.nanoTime() - start) / 1e6;
            out.println(result(response.code(), response.protocol().toString(), elapsed, null,
                               response.headers(), body));
            System.exit(0);
        } catch (IOException e) {
            double elapsed = (System.nanoTime() - start) / 1e6;
            e.printStackTrace();  // the client's log, kept as evidence
            out.println(result(null, null, elapsed, describe(e), null, ""));
            System.exit(1);
        }
    }

    // --- arguments -------------------------------------------------------------------------
    static Options parse(String[] argv) throws BadArguments {
        Options o = new Options();
        for (int i = 0; i < argv.length; i++) {
            String arg = argv[i];
            String value = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                value = arg.substring(eq + 1);
                arg = arg.substring(0, eq);
            }
            if (arg.equals("--insecure")) {
                if (value != null) throw new BadArguments("--insecure takes no value");
                o.insecure = true;
                continue;
            }
            if (value == null) {
                if (i + 1 >= argv.length) throw new BadArguments(arg + " needs a value");
                value = argv[++i];
            }
            switch (arg) {
                case "--url": o.url = value; break;
                case "--body-file": o.bodyFile = value; break;
                case "--header": o.headers.add(header(value)); break;
                case "--ca-cert": o.caCert = value; break;
                case "--client-cert": o.clientCert = value; break;
                case "--client-key": o.clientKey = value; break;
                case "--connect-timeout": o.connectTimeoutMs = seconds(arg, value); break;
                case "--timeout": o.timeoutMs = seconds(arg, value); break;
                case "--mode": o.mode = value; break;
                case "--user-agent": o.userAgent = value; break;
                case "--proxy": o.proxy = value; break;
                default: throw new BadArguments("unknown argument " + arg);
            }
        }
        if (o.url == null || o.bodyFile == null) throw new BadArguments("--url and --body-file are required");
        if (!o.mode.equals("bare") && !o.mode.equals("sdk")) throw new BadArguments("--mode is bare or sdk, not " + o.mode);
        if (o.mode.equals("sdk") && o.userAgent == null) throw new BadArguments("--mode sdk needs --user-agent (the SDK's own)");
        if (o.mode.equals("bare") && o.userAgent != null)
            throw new BadArguments("--user-agent is for --mode sdk; the bare example sends OkHttp's default");
        if (o.clientKey != null && o.clientCert == null) throw new BadArguments("--client-key needs --client-cert");
        return o;
    }

    static String[] header(String line) throws BadArguments {
        int colon = line.indexOf(':');
        if (colon <= 0) throw new BadArguments("--header must be 'Name: value', got '" + line + "'");
        return new String[] {line.substring(0, colon).trim(), line.substring(colon + 1).trim()};
    }

    static long seconds(String name, String value) throws BadArguments {
        try {
            double s = Double.parseDouble(value);
            if (!(s > 0) || s > 86_400) throw new NumberFormatException();
            return Math.max(1, Math.round(s * 1000));
        } catch (NumberFormatException e) {
            throw new BadArguments(name + " must be a number of seconds above 0, got '" + value + "'");
        }
    }

    // --- the client --------------------------------------------------------------------------
    static OkHttpClient buildClient(Options o) throws BadArguments {
        OkHttpClient.Builder builder;
        if (o.mode.equals("bare")) {
            builder = new OkHttpClient().newBuilder();  // the document's example, OkHttp's defaults
            if (o.connectTimeoutMs != null) builder.connectTimeout(o.connectTimeoutMs, TimeUnit.MILLISECONDS);
            if (o.timeoutMs != null) builder.callTimeout(o.timeoutMs, TimeUnit.MILLISECONDS);
        } else {
            String userAgent = o.userAgent;
            long io = o.connectTimeoutMs != null ? o.connectTimeoutMs : SDK_IO_TIMEOUT_MS;
            builder = new OkHttpClient.Builder()  // a new client for each upload, as the SDK does
                    .connectTimeout(io, TimeUnit.MILLISECONDS)
                    .readTimeout(SDK_IO_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                    .writeTimeout(SDK_IO_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                    .callTimeout(o.timeoutMs != null ? o.timeoutMs : SDK_CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                    .retryOnConnectionFailure(true)
                    .addNetworkInterceptor(chain -> chain.proceed(
                            chain.request().newBuilder().header("User-Agent", userAgent).build()));
        }
        if (o.caCert != null || o.insecure || o.clientCert != null) configureTls(builder, o);
        if (o.proxy != null) builder.proxy(proxy(o.proxy));
        return builder.build();
    }

    static Proxy proxy(String url) throws BadArguments {
        URI uri;
        try {
            uri = new URI(url);
        } catch (java.net.URISyntaxException e) {
            throw new BadArguments("--proxy must be http://HOST:PORT, got '" + url + "'");
        }
        if (!"http".equals(uri.getScheme()) || uri.getHost() == null || uri.getPort() < 1)
            throw new BadArguments("--proxy must be http://HOST:PORT, got '" + url + "'");
        String host = uri.getHost().startsWith("[") ? uri.getHost().substring(1, uri.getHost().length() - 1) : uri.getHost();
        return new Proxy(Proxy.Type.HTTP, new InetSocketAddress(host, uri.getPort()));
    }

    static void configureTls(OkHttpClient.Builder builder, Options o) throws BadArguments {
        try {
            X509TrustManager trust = o.insecure ? new TrustEverything()
                    : trustManager(o.caCert == null ? null : certificateStore(o.caCert));
            KeyManager[] keys = o.clientCert == null ? null : clientKeys(o.clientCert, o.clientKey);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keys, new TrustManager[] {trust}, null);
            builder.sslSocketFactory(context.getSocketFactory(), trust);
            if (o.insecure) builder.hostnameVerifier((host, session) -> true);
        } catch (GeneralSecurityException | IOException e) {
            throw new BadArguments("TLS files: " + e);
        }
    }

    static KeyStore certificateStore(String pemFile) throws GeneralSecurityException, IOException, BadArguments {
        List<X509Certificate> certs = certificates(pemFile);
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        for (int i = 0; i < certs.size(); i++) store.setCertificateEntry("ca-" + i, certs.get(i));
        return store;
    }

    static X509TrustManager trustManager(KeyStore store) throws GeneralSecurityException {
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(store);  // null: the JDK's own roots
        for (TrustManager manager : factory.getTrustManagers()) {
            if (manager instanceof X509TrustManager) return (X509TrustManager) manager;
        }
        throw new GeneralSecurityException("no X509TrustManager");
    }

    static List<X509Certificate> certificates(String pemFile) throws GeneralSecurityException, IOException, BadArguments {
        Collection<? extends Certificate> found = CertificateFactory.getInstance("X.509")
                .generateCertificates(new ByteArrayInputStream(readFile(pemFile)));
        List<X509Certificate> certs = new ArrayList<>();
        for (Certificate cert : found) certs.add((X509Certificate) cert);
        if (certs.isEmpty()) throw new BadArguments(pemFile + " holds no PEM certificate");
        return certs;
    }

    static KeyManager[] clientKeys(String certFile, String keyFile) throws GeneralSecurityException, IOException, BadArguments {
        List<X509Certificate> chain = certificates(certFile);
        PrivateKey key = privateKey(keyFile != null ? keyFile : certFile);
        char[] password = "clickstream".toCharArray();  // of the in-memory store only
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry("client", key, password, chain.toArray(new Certificate[0]));
        KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        factory.init(store, password);
        return factory.getKeyManagers();
    }

    static final Pattern PEM_KEY = Pattern.compile(
            "-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----([A-Za-z0-9+/=\\s]+)-----END \\1-----");

    static PrivateKey privateKey(String pemFile) throws GeneralSecurityException, IOException, BadArguments {
        Matcher m = PEM_KEY.matcher(new String(readFile(pemFile), StandardCharsets.US_ASCII));
        if (!m.find()) throw new BadArguments(pemFile + " holds no PEM private key");
        byte[] der = Base64.getMimeDecoder().decode(m.group(2));
        switch (m.group(1)) {
            case "PRIVATE KEY": return pkcs8(der, "RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS");
            case "RSA PRIVATE KEY": return pkcs8(wrapPkcs8(RSA_ALGORITHM, der), "RSA");
            case "EC PRIVATE KEY": return pkcs8(wrapPkcs8(ecAlgorithm(der), der), "EC");
            default: throw new BadArguments(pemFile + ": an encrypted key; decrypt it first (openssl pkcs8 -nocrypt)");
        }
    }

    static PrivateKey pkcs8(byte[] der, String... algorithms) throws GeneralSecurityException {
        GeneralSecurityException last = null;
        for (String algorithm : algorithms) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException e) {
                last = e;
            }
        }
        throw last;
    }

    // DER: the AlgorithmIdentifier of rsaEncryption (1.2.840.113549.1.1.1, NULL parameters).
    static final byte[] RSA_ALGORITHM = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7,
                                         0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
    static final byte[] EC_PUBLIC_KEY_OID = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};

    // A SEC1 ECPrivateKey names its curve in its [0] field; PKCS#8 wants it in the algorithm.
    static byte[] ecAlgorithm(byte[] sec1) throws BadArguments {
        Der outer = new Der(sec1, 0);
        int at = outer.contentStart;
        while (at < outer.end) {
            Der field = new Der(sec1, at);
            if ((field.tag & 0xff) == 0xa0) {
                byte[] curve = Arrays.copyOfRange(sec1, field.contentStart, field.end);
                return sequence(concat(EC_PUBLIC_KEY_OID, curve));
            }
            at = field.end;
        }
        throw new BadArguments("the EC key names no curve; convert it: openssl pkcs8 -topk8 -nocrypt");
    }

    static byte[] wrapPkcs8(byte[] algorithm, byte[] key) {
        byte[] version = {0x02, 0x01, 0x00};
        return sequence(concat(version, algorithm, tagged(0x04, key)));
    }

    static final class Der {  // one tag-length-value at an offset: just enough to walk SEC1
        final int tag, contentStart, end;
        Der(byte[] data, int at) throws BadArguments {
            if (at + 2 > data.length) throw new BadArguments("a truncated key");
            tag = data[at];
            int length = data[at + 1] & 0xff;
            int start = at + 2;
            if (length > 0x7f) {
                int bytes = length & 0x7f;
                length = 0;
                for (int i = 0; i < bytes; i++) length = (length << 8) | (data[start + i] & 0xff);
                start += bytes;
            }
            contentStart = start;
            end = start + length;
            if (end > data.length) throw new BadArguments("a truncated key");
        }
    }

    static byte[] sequence(byte[] content) { return tagged(0x30, content); }

    static byte[] tagged(int tag, byte[] content) {
        int n = content.length;
        byte[] length = n < 0x80 ? new byte[] {(byte) n}
                : n < 0x100 ? new byte[] {(byte) 0x81, (byte) n}
                : n < 0x10000 ? new byte[] {(byte) 0x82, (byte) (n >> 8), (byte) n}
                : new byte[] {(byte) 0x83, (byte) (n >> 16), (byte) (n >> 8), (byte) n};
        return concat(new byte[] {(byte) tag}, length, content);
    }

    static byte[] concat(byte[]... parts) {
        int size = 0;
        for (byte[] part : parts) size += part.length;
        byte[] all = new byte[size];
        int at = 0;
        for (byte[] part : parts) {
            System.arraycopy(part, 0, all, at, part.length);
            at += part.length;
        }
        return all;
    }

    static final class TrustEverything implements X509TrustManager {  // --insecure only
        public void checkClientTrusted(X509Certificate[] chain, String authType) {}
        public void checkServerTrusted(X509Certificate[] chain, String authType) {}
        public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
    }

    // --- the request, as the document's example builds it ----------------------------------
    static Request buildRequest(Options o) throws BadArguments {
        MediaType mediaType = null;
        for (String[] h : o.headers) {
            if (h[0].equalsIgnoreCase("Content-Type")) {
                mediaType = MediaType.parse(h[1]);
                break;
            }
        }
        // The body's bytes exactly as in the file (the document passes a String in UTF-8).
        RequestBody body = RequestBody.create(readFile(o.bodyFile), mediaType);
        Request.Builder request = new Request.Builder().url(o.url).method("POST", body);
        for (String[] h : o.headers) request.addHeader(h[0], h[1]);
        return request.build();
    }

    static byte[] readFile(String path) throws BadArguments {
        try {
            return Files.readAllBytes(Path.of(path));
        } catch (NoSuchFileException e) {
            throw new BadArguments("no such file: " + path);
        } catch (IOException e) {
            throw new BadArguments("cannot read " + path + ": " + e);
        }
    }

    static String readPrefix(ResponseBody body) throws IOException {
        if (body == null) return "";
        try (InputStream in = body.byteStream()) {
            return new String(in.readNBytes(BODY_LIMIT), StandardCharsets.UTF_8);
        }
    }

    // The client's own words: the exception's class and message, and its causes'.
    static String describe(Throwable e) {
        StringBuilder text = new StringBuilder(e.toString());
        Throwable cause = e.getCause();
        for (int depth = 0; cause != null && cause != e && depth < 5; depth++, cause = cause.getCause()) {
            text.append(" (caused by ").append(cause).append(')');
        }
        return text.toString();
    }

    // --- the result line ----------------------------------------------------------------------
    static String result(Integer status, String protocol, double elapsedMs, String error, Headers headers, String body) {
        StringBuilder j = new StringBuilder("{\"client\": ").append(quote("okhttp " + OkHttp.VERSION));
        j.append(", \"status\": ").append(status == null ? "null" : status.toString());
        j.append(", \"protocol\": ").append(protocol == null ? "null" : quote(protocol));
        j.append(", \"elapsed_ms\": ").append(String.format(java.util.Locale.ROOT, "%.1f", elapsedMs));
        j.append(", \"error\": ").append(error == null ? "null" : quote(error));
        j.append(", \"response_headers\": [");
        if (headers != null) {
            for (int i = 0; i < headers.size(); i++) {
                if (i > 0) j.append(", ");
                j.append('[').append(quote(headers.name(i))).append(", ").append(quote(headers.value(i))).append(']');
            }
        }
        j.append("], \"response_body\": ").append(quote(body)).append('}');
        return j.toString();
    }

    static String quote(String s) {
        StringBuilder q = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') q.append('\\').append(c);
            else if (c >= 0x20 && c < 0x7f) q.append(c);
            else q.append(String.format("\\u%04x", (int) c));  // ASCII out: any terminal, any locale
        }
        return q.append('"').toString();
    }
}
