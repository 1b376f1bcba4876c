#!/usr/bin/python3
"""Prints the SigV4 Authorization header botocore computes for each request.

Input: a JSON file with a list of requests, each
  {"method", "url", "headers": [[name, value], ...], "body", "access_key",
   "secret_key", "token", "region", "service", "amz_date"}.
Output: one Authorization header per line, in order.

botocore's SigV4Auth.add_auth() takes the time from the clock; to sign at a
given instant this runs the same steps with the timestamp set beforehand.
Run with Debian's /usr/bin/python3 (python3-botocore). Used by aws_test.cc
(Query protocol requests) and sqs_test.cc (SQS JSON protocol requests, as the
client sent them: Content-Type application/x-amz-json-1.0 and X-Amz-Target
are signed like any other header; botocore adds Host, X-Amz-Date and
X-Amz-Security-Token itself).
"""
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    creds = Credentials(case["access_key"], case["secret_key"], case.get("token") or None)
    auth = SigV4Auth(creds, case["service"], case["region"])
    request = AWSRequest(method=case["method"], url=case["url"],
                         data=case.get("body", "").encode("utf-8"))
    for name, value in case.get("headers", []):
        request.headers[name] = value
    request.context["timestamp"] = case["amz_date"]
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    signature = auth.signature(string_to_sign, request)
    auth._inject_signature_to_request(request, signature)
    return request.headers["Authorization"]


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    for case in cases:
        print(sign(case))


if __name__ == "__main__":
    main()
