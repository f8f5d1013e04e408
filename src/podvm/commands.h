/* podvm's verbs; each returns the process exit code. */
#pragma once

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_reference(int argc, char **argv);
int cmd_attest(int argc, char **argv);
int cmd_ca(int argc, char **argv);
