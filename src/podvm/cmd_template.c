/* podvm template ls|rm: the VM templates new VMs are restored from (made on first use). */
#include "commands.h"
#include "cleanup.h"
#include "paths.h"
#include "template.h"

#include <stdio.h>
#include <string.h>

static void print_template(const char *dir, const char *key, long long bytes, void *data)
{
	(void)data;
	/* The key's last fields are the shape: from "accel=" on. */
	const char *shape = strstr(key, " accel=");
	printf("%s  %6.1f MB  %s\n", dir, bytes / 1e6, shape ? shape + 1 : key);
}

static int usage(void)
{
	fprintf(stderr, "Usage: podvm template ls|rm\n"
			"  ls  list the VM templates (made on first use of each VM shape)\n"
			"  rm  remove them all (running VMs are not affected)\n");
	return 125;
}

int cmd_template(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "ls") != 0 && strcmp(argv[1], "rm") != 0))
		return usage();
	struct pv_paths paths;
	pv_error err = NULL;
	_cleanup_free_ char *dir = NULL;
	if (pv_paths_init(&paths, &err) < 0) {
		pv_error_print("podvm", &err);
		return 125;
	}
	int r = pv_templates_dir(&paths, &dir, &err);
	if (r == 0 && strcmp(argv[1], "ls") == 0)
		r = pv_template_list(dir, print_template, NULL, &err);
	else if (r == 0)
		r = pv_template_remove_all(dir, &err);
	pv_paths_clear(&paths);
	if (r < 0) {
		pv_error_print("podvm", &err);
		return 1;
	}
	return 0;
}
