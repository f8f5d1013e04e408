/* podvm template ls|rm: the VM templates new VMs are restored from (made on first use), and
 * the pools of VMs restored from them (pool.h). */
#include "commands.h"
#include "cleanup.h"
#include "paths.h"
#include "pool.h"
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

static void print_pool_vm(const char *entry, bool ready, void *data)
{
	const char *dir = data;
	printf("%s/%s  pooled VM%s\n", dir, entry, ready ? "" : " (being restored)");
}

static int list(const struct pv_paths *paths, const char *dir, pv_error *err)
{
	struct pv_pool_dirs d;
	if (pv_template_list(dir, print_template, NULL, err) < 0 || pv_pool_dirs_init(paths, &d, err) < 0)
		return -1;
	int r = pv_pool_list(&d, print_pool_vm, d.state, err);
	pv_pool_dirs_clear(&d);
	return r;
}

/* Pooled VMs first: they were restored from the templates. */
static int remove_all(const struct pv_paths *paths, const char *dir, pv_error *err)
{
	struct pv_pool_dirs d;
	if (pv_pool_dirs_init(paths, &d, err) < 0)
		return -1;
	int r = pv_pool_drain(&d, err);
	pv_pool_dirs_clear(&d);
	return r < 0 ? -1 : pv_template_remove_all(dir, err);
}

static int usage(void)
{
	fprintf(stderr, "Usage: podvm template ls|rm\n"
			"  ls  list the VM templates (made on first use of each VM shape) and pooled VMs\n"
			"  rm  remove them all, stopping pooled VMs (pods' VMs are not affected)\n");
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
		r = list(&paths, dir, &err);
	else if (r == 0)
		r = remove_all(&paths, dir, &err);
	pv_paths_clear(&paths);
	if (r < 0) {
		pv_error_print("podvm", &err);
		return 1;
	}
	return 0;
}
