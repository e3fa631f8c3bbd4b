/* agent_file.c - fuzz target: an agent file through the whole loader (YAML or JSON parse, schema
 * check, tool and MCP entries, templates, guardrails). First byte even: the rest is written as
 * agent.yaml; odd: as agent.json. The loader reads files only (and files the agent file names,
 * relative to its directory), so each input goes to a private temporary directory. */
#include <stdio.h>
#include <unistd.h>

#include "agent/agent_file.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char dir[] = "/tmp/parley-fuzz-agent-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    char path[128];
    snprintf(path, sizeof path, "%s/agent.%s", dir, data[0] & 1 ? "json" : "yaml");
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    struct err e = {0};
    char *problems = NULL;
    struct agent_file *af = agent_file_load_report(path, &problems, &e);
    if (af) {
        char *text = agent_file_render_instructions(af, 1700000000000LL);
        free(text);
        json_decref(agent_file_show(af, NULL));
    }
    agent_file_free(af);
    free(problems);
    unlink(path);
    rmdir(dir);
    return 0;
}
