<?php
// A Clickstream collector as one PHP page behind Apache httpd, the way a PHP shop
// would write it. Apache enforces the body limit (LimitRequestBody) and answers
// TRACE and unknown paths itself; this page checks appId and the auth cookie,
// answers CORS for the allowed origin, appends what it accepts to a JSON-lines
// file and answers 200 with an empty body. It does not parse the body.
$config = json_decode(file_get_contents(__DIR__ . '/collector.json'), true);

$origin = $_SERVER['HTTP_ORIGIN'] ?? '';
if (in_array($origin, $config['origins'], true)) {
    header("Access-Control-Allow-Origin: $origin");
    header('Access-Control-Allow-Credentials: true');
    header('Vary: Origin');
}

$method = $_SERVER['REQUEST_METHOD'];
if ($method === 'OPTIONS') {
    header('Access-Control-Allow-Methods: POST, OPTIONS');
    header('Access-Control-Allow-Headers: Content-Type');
    http_response_code(204);
    exit;
}
if ($method !== 'POST') {
    header('Allow: POST, OPTIONS');
    http_response_code(405);
    exit;
}
if (!in_array($_GET['appId'] ?? '', $config['app_ids'], true)) {
    http_response_code(403);
    echo "unknown appId\n";
    exit;
}
$cookie = $config['cookie'];
if ($cookie !== null && ($_COOKIE[$cookie['name']] ?? null) !== $cookie['value']) {
    http_response_code(403);
    echo "authentication required\n";
    exit;
}

$record = ['query' => $_SERVER['QUERY_STRING'] ?? '',
           'body_base64' => base64_encode(file_get_contents('php://input'))];
file_put_contents($config['store'], json_encode($record) . "\n", FILE_APPEND | LOCK_EX);
