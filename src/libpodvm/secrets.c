#include "secrets.h"
#include "agent_client.h"
#include "cleanup.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool is_file_name(const char *name)
{
	return name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int pv_secrets_add_file(struct pv_secrets *s, const char *name, const char *file, pv_error *err)
{
	if (!is_file_name(name))
		return pv_error_set_plain(err, EINVAL, "secret \"%s\": not a file name", name);
	struct pv_secret *v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (v == NULL)
		return pv_error_set(err, ENOMEM, "secrets");
	s->v = v;
	struct pv_secret *n = &v[s->n];
	*n = (struct pv_secret){ .name = strdup(name) };
	if (n->name == NULL)
		return pv_error_set(err, ENOMEM, "secrets");
	s->n++;  /* from here on freed by pv_secrets_clear */
	if (pv_read_file(file, PV_SECRET_MAX, &n->data, &n->len, err) < 0)
		return pv_error_prefix(err, "secret %s", name);
	return 0;
}

static int only_visible(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int pv_secrets_add_dir(struct pv_secrets *s, const char *dir, pv_error *err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, only_visible, alphasort);
	if (n < 0)
		return pv_error_set(err, errno, "secrets_dir %s", dir);
	int r = 0;
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;
		struct stat st;
		if (r == 0 && asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0)
			r = pv_error_set(err, ENOMEM, "secrets");
		if (r == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			r = pv_secrets_add_file(s, names[i]->d_name, path, err);
		free(names[i]);
	}
	free(names);
	return r;
}

int pv_secrets_put(const struct pv_secrets *s, struct ttrpc_client *agent, const char *id, pv_error *err)
{
	for (size_t i = 0; i < s->n; i++)
		if (pv_agent_put_secret(agent, id, s->v[i].name, s->v[i].data, s->v[i].len, err) < 0)
			return pv_error_prefix(err, "secret %s", s->v[i].name);
	return 0;
}

void pv_secrets_clear(struct pv_secrets *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].data)
			explicit_bzero(s->v[i].data, s->v[i].len);
		free(s->v[i].name);
		free(s->v[i].data);
	}
	free(s->v);
	*s = (struct pv_secrets){ 0 };
}

json_t *pv_spec_secrets_mount(void)
{
	return json_pack("{s:s,s:s,s:s,s:[s,s,s,s,s]}", "destination", PV_SECRETS_DIR, "type", "tmpfs", "source", "tmpfs",
			 "options", "nosuid", "noexec", "nodev", "mode=0755", "size=1m");
}
