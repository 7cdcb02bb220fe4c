#!/usr/bin/env python3
"""Plants layering violations in small trees and checks that
check_layering.py names them (file:line and the edge), and that the same
trees without the violation pass, so the check can fail both ways."""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_layering.py")
LAYERS = os.path.join(HERE, "layers.txt")


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as f:
        f.write(text)


class CheckLayeringTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        # The real layering without its exceptions, which name files of the
        # real tree and would be stale here.
        self.layers = os.path.join(self.root, "layers.txt")
        with open(LAYERS, encoding="utf-8") as f:
            self.base_layers = "".join(line for line in f if not line.startswith("exception"))
        with open(self.layers, "w", encoding="utf-8") as f:
            f.write(self.base_layers)
        # A legal miniature of the tree.
        write(self.root, "common/files.h", "#pragma once\n")
        write(self.root, "protocol/handshake/handshake.h",
              '#pragma once\n#include "common/files.h"\n')
        write(self.root, "agent/attempt/attempt.h",
              '#pragma once\n#include "protocol/handshake/handshake.h"\n'
              '#include "relayscope/v1/telemetry.pb.h"\n#include "absl/status/status.h"\n')
        write(self.root, "relay/relay_server.h", "#pragma once\n")
        write(self.root, "relay/relay_server.cc",
              '#include "relay/relay_server.h"\n#include "protocol/handshake/handshake.h"\n')
        write(self.root, "tests/rig/net.h", '#pragma once\n#include "agent/attempt/attempt.h"\n')

    def tearDown(self):
        self.tmp.cleanup()

    def run_check(self):
        result = subprocess.run([sys.executable, CHECKER, "--root", self.root,
                                 "--layers", self.layers],
                                capture_output=True, text=True, check=False)
        return result.returncode, result.stderr

    def test_legal_tree_passes(self):
        code, errors = self.run_check()
        self.assertEqual(code, 0, errors)

    def test_relay_including_agent_fails_naming_file_line_and_edge(self):
        write(self.root, "relay/relay_server.cc",
              '#include "relay/relay_server.h"\n#include "agent/attempt/attempt.h"\n')
        code, errors = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("relay/relay_server.cc:2: forbidden edge relay -> agent/attempt", errors)
        self.assertIn("agent/attempt/attempt.h", errors)

    def test_angle_bracket_include_of_a_project_header_is_checked(self):
        write(self.root, "protocol/handshake/handshake.cc", "#include <relay/relay_server.h>\n")
        code, errors = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("protocol/handshake/handshake.cc:1: forbidden edge protocol/handshake -> relay", errors)

    def test_lower_layers_are_usable_transitively(self):
        # agent/attempt names protocol, which names common.
        write(self.root, "agent/attempt/attempt.cc", '#include "common/files.h"\n')
        code, errors = self.run_check()
        self.assertEqual(code, 0, errors)

    def test_product_code_including_tests_fails(self):
        write(self.root, "agent/attempt/attempt.cc", '#include "tests/rig/net.h"\n')
        code, errors = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("agent/attempt/attempt.cc:1: forbidden edge agent/attempt -> tests", errors)

    def test_a_test_may_use_tests_but_not_a_higher_layer(self):
        write(self.root, "agent/attempt/attempt_test.cc",
              '#include "agent/attempt/attempt.h"\n#include "tests/rig/net.h"\n')
        code, errors = self.run_check()
        self.assertEqual(code, 0, errors)
        write(self.root, "common/files_test.cc",
              '#include "tests/rig/net.h"\n#include "agent/attempt/attempt.h"\n')
        code, errors = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("common/files_test.cc:2: forbidden edge common -> agent/attempt: a test of",
                      errors)

    def test_folder_missing_from_layers_fails(self):
        write(self.root, "agent/newthing/new.cc", '#include "common/files.h"\n')
        code, errors = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("agent/newthing/new.cc: folder agent/newthing is not a component", errors)

    def test_exception_allows_one_file_and_goes_stale_when_unused(self):
        with open(self.layers, "a", encoding="utf-8") as f:
            f.write("exception relay/relay_server.cc -> agent/attempt  # planted\n")
        code, errors = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("exception relay/relay_server.cc -> agent/attempt is no longer needed",
                      errors)
        write(self.root, "relay/relay_server.cc", '#include "agent/attempt/attempt.h"\n')
        code, errors = self.run_check()
        self.assertEqual(code, 0, errors)
        write(self.root, "relay/middlebox.cc", '#include "agent/attempt/attempt.h"\n')
        code, errors = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("relay/middlebox.cc:1: forbidden edge relay -> agent/attempt", errors)

    def test_broken_layers_file_is_reported(self):
        with open(self.layers, "w", encoding="utf-8") as f:
            f.write("common: nosuchthing\n")
        code, errors = self.run_check()
        self.assertEqual(code, 2)
        self.assertIn("common names unknown component nosuchthing", errors)


if __name__ == "__main__":
    unittest.main()
