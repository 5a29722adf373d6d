"""Runs the vendored Eclipse Paho MQTT 3.1.1 interoperability client tests (paho/client_test.py, unchanged) against
a server: python3 run_paho.py --hostname 127.0.0.1 --port 1883

client_test.py reads its options with getopt and then hands the same argv to unittest.main(), which refuses
--hostname/--port; this runner sets the module globals its __main__ block would set and runs the TestCase with
unittest's own argv left empty. Prints unittest's verbose report and a last line 'paho: N passed, N failed'.
"""

import argparse
import logging
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "paho"))

import client_test  # noqa: E402  (needs the path above)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hostname", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("tests", nargs="*", help="test names, e.g. Test.test_keepalive (default: all)")
    args = parser.parse_args()

    # The same values as client_test.py's __main__ block.
    client_test.host = args.hostname
    client_test.port = args.port
    client_test.topics = ("TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA")
    client_test.wildtopics = ("TopicA/+", "+/C", "#", "/#", "/+", "+/+", "TopicA/#")
    client_test.nosubscribe_topics = ("test/nosubscribe",)
    logging.getLogger().setLevel(logging.ERROR)
    print("hostname", args.hostname, "port", args.port, flush=True)

    loader = unittest.defaultTestLoader
    if args.tests:
        suite = loader.loadTestsFromNames(args.tests, client_test)
    else:
        suite = loader.loadTestsFromTestCase(client_test.Test)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"paho: {result.testsRun - failed} passed, {failed} failed", flush=True)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
