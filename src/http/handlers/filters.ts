import type { components } from '../../../generated/api.d.ts';
import type { WeirContext } from '../../context.ts';
import { paramDefs, type ConfigObject } from '../../core/objects.ts';
import { link, links } from '../links.ts';
import { applyResourcePatch } from '../patch.ts';
import type { HandlerGroup } from '../types.ts';

type Filter = components['schemas']['Filter'];
type FilterModule = Filter['module'];

function moduleParams(obj: ConfigObject) {
  return paramDefs('filter', String(obj.params.module)).filter((d) => d.name !== 'module');
}

export function filterView(weir: WeirContext, obj: ConfigObject): Filter {
  const parameters: Filter['parameters'] = {};
  for (const def of moduleParams(obj))
    parameters[def.name] = { value: obj.params[def.name] ?? null, configurable: def.modifiable === true };
  return {
    name: obj.name,
    module: String(obj.params.module) as FilterModule,
    parameters,
    services: links(
      'service',
      weir.core.servicesOfFilter(obj.name).map((s) => s.name),
    ),
  };
}

export const filterHandlers: HandlerGroup<
  'listFilters' | 'createFilter' | 'getFilter' | 'patchFilter' | 'deleteFilter'
> = {
  listFilters: ({ weir }) => ({
    status: 200,
    body: weir.core.list('filter').map((f) => filterView(weir, f)),
    lastModified: weir.core.collectionLastModified('filter'),
  }),

  createFilter: ({ weir, body }) => {
    const obj = weir.core.create('filter', body.name, { ...(body.parameters ?? {}), module: body.module });
    return {
      status: 201,
      body: filterView(weir, obj),
      location: link('filter', obj.name),
      lastModified: obj.lastModified,
    };
  },

  getFilter: ({ weir, params }) => {
    const obj = weir.core.get('filter', params.name);
    return { status: 200, body: filterView(weir, obj), lastModified: obj.lastModified };
  },

  patchFilter: ({ weir, params, body }) => {
    const obj = weir.core.get('filter', params.name);
    const configurable = new Set(
      moduleParams(obj)
        .filter((d) => d.modifiable)
        .map((d) => d.name),
    );
    const after = applyResourcePatch(filterView(weir, obj), body, {
      schema: 'Filter',
      modifiable: (p) => {
        const m = /^\/parameters\/([^/]+)\/value(\/.*)?$/.exec(p);
        return !!m && configurable.has(m[1]!);
      },
    });
    const changes: Record<string, unknown> = {};
    for (const name of configurable) {
      const value = after.parameters[name]?.value;
      if (JSON.stringify(value) !== JSON.stringify(obj.params[name])) changes[name] = value;
    }
    const updated = weir.core.alter('filter', obj.name, changes);
    return { status: 200, body: filterView(weir, updated), lastModified: updated.lastModified };
  },

  deleteFilter: ({ weir, params }) => {
    weir.core.destroy('filter', params.name);
    return { status: 204 };
  },
};
