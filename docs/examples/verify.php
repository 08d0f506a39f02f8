<?php
// Verifies a PostStack webhook (X-PostStack-Signature). PHP core only.
//
// usage: php verify.php [SECRET SIGNATURE [TOLERANCE]] < raw-body
// SECRET and SIGNATURE default to $POSTSTACK_SECRET and $POSTSTACK_SIGNATURE.
// Prints "valid" and exits 0, or prints the reason and exits 1; 2 = usage.
declare(strict_types=1);

// Throws UnexpectedValueException (the message says why) unless
// $signatureHeader signs $rawBody (exactly as received: in a web request,
// file_get_contents('php://input')) with $secret (the whole "whsec_..."
// string) and its timestamp is within $tolerance seconds of now.
function verify(string $secret, string $signatureHeader, string $rawBody, int $tolerance = 300): void
{
    $t = null;
    $v1s = [];
    foreach (explode(',', $signatureHeader) as $item) {
        $eq = strpos($item, '=');
        if ($eq === false || $eq === 0) {
            throw new UnexpectedValueException('bad signature header format');
        }
        $key = substr($item, 0, $eq);
        $value = substr($item, $eq + 1);
        // \z, not $: in PHP, $ also matches before a final newline.
        if ($key === 't') {
            if ($t !== null || !preg_match('/^[0-9]{1,12}\z/', $value)) {
                throw new UnexpectedValueException('bad signature header format');
            }
            $t = $value;
        } elseif ($key === 'v1') {
            if (!preg_match('/^[0-9a-fA-F]{64}\z/', $value)) {
                throw new UnexpectedValueException('bad signature header format');
            }
            $v1s[] = strtolower($value);
        }
        // Other schemes (v0=, v2=...) are skipped: new ones may be added.
    }
    if ($t === null || count($v1s) === 0) {
        throw new UnexpectedValueException('bad signature header format');
    }

    $now = time();
    if ($now - (int)$t > $tolerance) {
        throw new UnexpectedValueException('timestamp too old');
    }
    if ((int)$t - $now > $tolerance) {
        throw new UnexpectedValueException('timestamp in the future');
    }

    $expected = hash_hmac('sha256', $t . '.' . $rawBody, $secret);
    // hash_equals compares in constant time; every v1 is compared, match or not.
    $matched = false;
    foreach ($v1s as $v1) {
        $matched = hash_equals($expected, $v1) || $matched;
    }
    if (!$matched) {
        throw new UnexpectedValueException('no matching signature');
    }
}

function main(array $argv): int
{
    $secret = $argv[1] ?? getenv('POSTSTACK_SECRET');
    $header = $argv[2] ?? getenv('POSTSTACK_SIGNATURE');
    $tolerance = $argv[3] ?? '300';
    if ($secret === false || $header === false || count($argv) > 4
        || !preg_match('/^[0-9]{1,18}\z/', $tolerance)) {
        fwrite(STDERR, "usage: php verify.php [SECRET SIGNATURE [TOLERANCE]] < raw-body\n");
        return 2;
    }
    $body = file_get_contents('php://stdin');
    if ($body === false) {
        fwrite(STDERR, "verify: cannot read the body from standard input\n");
        return 2;
    }
    try {
        verify($secret, $header, $body, (int)$tolerance);
    } catch (UnexpectedValueException $e) {
        echo $e->getMessage(), "\n";
        return 1;
    }
    echo "valid\n";
    return 0;
}

if (PHP_SAPI === 'cli' && realpath($_SERVER['SCRIPT_FILENAME'] ?? '') === __FILE__) {
    exit(main($argv));
}
