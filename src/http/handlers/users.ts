import type { components } from '../../../generated/api.d.ts';
import type { AdminUser, Role } from '../../core/users.ts';
import { iso, isoOrNull } from '../links.ts';
import { applyResourcePatch } from '../patch.ts';
import type { HandlerGroup } from '../types.ts';

type User = components['schemas']['User'];

const userView = (u: AdminUser): User => ({
  name: u.name,
  role: u.role,
  created: iso(u.created),
  last_login: isoOrNull(u.lastLogin),
});

export const userHandlers: HandlerGroup<
  'listUsers' | 'putUser' | 'createUser' | 'getUser' | 'patchUser' | 'deleteUser'
> = {
  listUsers: ({ weir }) => ({
    status: 200,
    body: weir.users.list().map(userView),
    lastModified: weir.users.lastModified,
  }),

  putUser: ({ weir, body }) => {
    weir.users.create(body.name, body.password, body.role ?? 'basic');
    return { status: 204 };
  },

  createUser: ({ weir, body }) => {
    const user = weir.users.create(body.name, body.password, body.role ?? 'basic');
    return { status: 201, body: userView(user), location: `/users/${user.name}`, lastModified: user.lastModified };
  },

  getUser: ({ weir, params }) => {
    const user = weir.users.get(params.name);
    return { status: 200, body: userView(user), lastModified: user.lastModified };
  },

  patchUser: ({ weir, params, body }) => {
    const before = userView(weir.users.get(params.name));
    const after = applyResourcePatch(before, body, {
      schema: 'User',
      modifiable: (p) => p === '/password' || p === '/role',
      writeOnly: ['/password'],
    });
    const change: { password?: string; role?: Role } = {};
    if (typeof after.password === 'string') change.password = after.password;
    if (after.role !== before.role) change.role = after.role;
    const user = weir.users.update(before.name, change);
    return { status: 200, body: userView(user), lastModified: user.lastModified };
  },

  deleteUser: ({ weir, params }) => {
    weir.users.delete(params.name);
    return { status: 204 };
  },
};
