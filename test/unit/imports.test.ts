// The product's modules import each other without a circle: a reader (and the loader) can take
// them in one order. Relative imports only; the graph is read from the sources themselves.
import * as fs from "fs";
import * as path from "path";

const REPO = path.resolve(__dirname, "../..");

/** Every `from "./x"` / `from "../y"` of the TypeScript files under `dirs`, as repo-relative paths. */
function importGraph(dirs: string[]): Map<string, string[]> {
    const graph = new Map<string, string[]>();
    for (const dir of dirs) {
        for (const name of fs.readdirSync(path.join(REPO, dir)).filter((n) => n.endsWith(".ts"))) {
            const file = path.join(dir, name);
            const text = fs.readFileSync(path.join(REPO, file), "utf8");
            const targets = [...text.matchAll(/\bfrom\s+"(\.{1,2}\/[^"]+)"/g)].map((m) =>
                path.normalize(path.join(dir, `${m[1]}.ts`)),
            );
            graph.set(
                file,
                targets.filter((target) => fs.existsSync(path.join(REPO, target))),
            );
        }
    }
    return graph;
}

/** A circle of the graph as a path that returns to its start, or undefined. */
function findCircle(graph: Map<string, string[]>): string[] | undefined {
    const state = new Map<string, "open" | "done">();
    const trail: string[] = [];
    const visit = (node: string): string[] | undefined => {
        if (state.get(node) === "open") {
            return [...trail.slice(trail.indexOf(node)), node];
        }
        if (state.get(node) === "done") {
            return undefined;
        }
        state.set(node, "open");
        trail.push(node);
        for (const next of graph.get(node) ?? []) {
            const circle = visit(next);
            if (circle) {
                return circle;
            }
        }
        trail.pop();
        state.set(node, "done");
        return undefined;
    };
    for (const node of graph.keys()) {
        const circle = visit(node);
        if (circle) {
            return circle;
        }
    }
    return undefined;
}

test("components/ and release/ import each other without a circle", () => {
    const graph = importGraph(["components", "release"]);
    expect(graph.size).toBeGreaterThan(20);
    expect(findCircle(graph)).toBeUndefined();
});

test("the check finds a circle where there is one", () => {
    const graph = new Map([
        ["a.ts", ["b.ts"]],
        ["b.ts", ["c.ts"]],
        ["c.ts", ["a.ts"]],
        ["d.ts", []],
    ]);
    expect(findCircle(graph)).toEqual(["a.ts", "b.ts", "c.ts", "a.ts"]);
});
