// The document's C# example in System.Net.Http.HttpClient: POST the body with the given
// headers and print the contract's one JSON result line (conformance/engines/clients/__init__.py).
// Exit 0: an HTTP answer (any status); 1: none (TLS, reset, timeout); 2: bad arguments.
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

var headers = new List<(string Name, string Value)>();
string? url = null, bodyFile = null, caCert = null, clientCert = null, clientKey = null;
bool insecure = false;
string? proxy = null;
double timeout = 10, connectTimeout = 5;
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : Usage($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--url": url = Next(); break;
        case "--body-file": bodyFile = Next(); break;
        case "--header":
            var line = Next();
            var at = line.IndexOf(':');
            if (at < 1) Usage($"--header must be 'Name: value', got '{line}'");
            headers.Add((line[..at].Trim(), line[(at + 1)..].Trim()));
            break;
        case "--ca-cert": caCert = Next(); break;
        case "--client-cert": clientCert = Next(); break;
        case "--client-key": clientKey = Next(); break;
        case "--insecure": insecure = true; break;
        case "--proxy": proxy = Next(); break;
        case "--timeout": timeout = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--connect-timeout": connectTimeout = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--mode": case "--user-agent": Next(); break;  // OkHttp's options: nothing to do here
        default: Usage($"unknown argument {args[i]}"); break;
    }
}
if (url is null || bodyFile is null) Usage("--url and --body-file are required");

var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(connectTimeout) };
// The suite's proxy or none: HttpClient's own default reads $HTTPS_PROXY, which the suite takes away.
handler.UseProxy = proxy is not null;
if (proxy is not null) handler.Proxy = new System.Net.WebProxy(new Uri(proxy));
if (insecure)
{
    handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
}
else if (caCert is not null)
{
    // The system's trust and the given CA, as the suite's --ca-cert means.
    var extra = new X509Certificate2Collection();
    extra.ImportFromPemFile(caCert);
    handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
    {
        if (errors == System.Net.Security.SslPolicyErrors.None) return true;
        if (certificate is null || chain is null || errors != System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors) return false;
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(extra);
        return chain.Build(new X509Certificate2(certificate));
    };
}
if (clientCert is not null)
{
    var pair = X509Certificate2.CreateFromPemFile(clientCert, clientKey);
    handler.SslOptions.ClientCertificates = new X509CertificateCollection { pair };
}

var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(timeout) };
var request = new HttpRequestMessage(HttpMethod.Post, url);
var content = new ByteArrayContent(File.ReadAllBytes(bodyFile!));
foreach (var (name, value) in headers)
{
    if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(value);
    else
        request.Headers.TryAddWithoutValidation(name, value);
}
request.Content = content;

var result = new Dictionary<string, object?>
{
    ["client"] = $".NET {Environment.Version} HttpClient", ["status"] = null, ["protocol"] = "",
    ["elapsed_ms"] = 0.0, ["error"] = null, ["response_headers"] = new List<string[]>(), ["response_body"] = "",
};
var clock = Stopwatch.StartNew();
int code = 0;
try
{
    var response = await client.SendAsync(request);
    var text = await response.Content.ReadAsStringAsync();
    result["status"] = (int)response.StatusCode;
    result["protocol"] = response.Version.Major == 2 ? "h2" : $"http/{response.Version.Major}.{response.Version.Minor}";
    result["response_headers"] = response.Headers.Concat(response.Content.Headers)
        .SelectMany(h => h.Value.Select(v => new[] { h.Key, v })).ToList();
    result["response_body"] = text.Length > 4096 ? text[..4096] : text;
    Console.WriteLine($"{(int)response.StatusCode} {response.ReasonPhrase} ({text.Length} characters)");
}
catch (Exception error)
{
    var words = new List<string>();
    for (Exception? e = error; e is not null; e = e.InnerException) words.Add($"{e.GetType().Name}: {e.Message}");
    result["error"] = string.Join(" <- ", words);
    Console.Error.WriteLine(result["error"]);
    code = 1;
}
result["elapsed_ms"] = Math.Round(clock.Elapsed.TotalMilliseconds, 1);
Console.WriteLine(JsonSerializer.Serialize(result));
return code;

static string Usage(string message)
{
    Console.Error.WriteLine($"HttpClientUpload: {message}");
    Environment.Exit(2);
    return "";
}
